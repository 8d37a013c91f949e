"""Where training batches come from: a DataLoader over memory-mapped files, or the split resident on the device.

Both follow one ``ResumableShuffleSampler``, so they give the same batches in the same order and
resume at any step. The resident path copies the (subset of the) training split to the device
once, optionally as bf16/fp16 to halve its footprint, and then each step is one gather on the
device: no workers, no host-to-device copy, no host sync. The loader path reads into pinned host
memory and copies the next batch to the GPU on a side stream while the current step computes.
The transforms (log, min-max) run batched on the device in both paths.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader

from fwilab.config.groups import STORAGE_DTYPES
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.data_contract import SEISMIC_SHAPE, VELOCITY_SHAPE
from fwilab.training.preemption import ignore_preemption_signals
from fwilab.training.sampler import ResumableShuffleSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainBatch:
    """One step's raw samples (log/min-max transforms not applied): what the loop hands an objective's step.

    ``indices`` are the samples' positions in the training split (so an objective can tell which samples it may
    treat as labelled); ``velocity`` is None where the data set holds no velocity.
    """

    seismic: torch.Tensor
    velocity: torch.Tensor | None
    indices: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.seismic, self.velocity, self.indices) if t is not None]

    def to(self, device: torch.device, non_blocking: bool = False) -> TrainBatch:
        def move(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.to(device, non_blocking=non_blocking)

        return TrainBatch(move(self.seismic), move(self.velocity), move(self.indices))


Batch = tuple[int, TrainBatch]  # (epoch, its samples)
STORAGE_TORCH_DTYPES = {name: getattr(torch, name) for name in STORAGE_DTYPES}  # the names are torch's


def worker_settings(num_workers: int) -> dict[str, Any]:
    """DataLoader arguments for ``num_workers`` workers: kept across epochs, and deaf to the
    preemption signals so that a signal to the whole process group still ends in a checkpoint. Each loader draws
    its workers' seeds from its own generator: starting an epoch (or a resume) then draws nothing from the process's
    generators, which a checkpoint restores, so a step that draws random numbers (a GAN's gradient penalty) resumes
    exactly."""
    return {
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
        "worker_init_fn": ignore_preemption_signals,
        "generator": torch.Generator(),
    }


class LoaderBatches:
    """Batches read by a DataLoader (pinned memory and asynchronous copies when the device is a GPU)."""

    def __init__(
        self, dataset: OpenFWIDataset, sampler: ResumableShuffleSampler, num_workers: int, device: torch.device
    ):
        self.sampler = sampler
        self.device = device
        self.loader = DataLoader(
            dataset,
            batch_size=sampler.batch_size,
            sampler=sampler,
            drop_last=True,
            pin_memory=device.type == "cuda",
            **worker_settings(num_workers),
        )

    def after(self, step: int) -> Iterator[Batch]:
        """(epoch, batch) on the device for steps step + 1, step + 2, ..."""
        return prefetch_to_device(self._host_batches(step), self.device)

    def _host_batches(self, step: int) -> Iterator[Batch]:
        size = self.sampler.batch_size
        for epoch in self.sampler.epochs_after(step):
            order = torch.tensor(list(self.sampler), dtype=torch.long)  # what the loader reads: a pure function
            for start, (seismic, velocity) in zip(range(0, len(order), size), self.loader):
                yield epoch, TrainBatch(seismic, velocity, order[start : start + size])


def prefetch_to_device(batches: Iterator[Batch], device: torch.device) -> Iterator[Batch]:
    """Yield each batch on ``device`` while the next one is already being copied there.

    The copy of batch k + 1 is queued before batch k is handed over. On a CUDA GPU it goes on a side
    stream, so it overlaps the step on batch k (from pinned memory the copy is truly asynchronous); a
    batch is handed over once the compute stream waits for its own copy's event (not for later
    copies), and ``record_stream`` stops the caching allocator from recycling its memory while the
    step still reads it. Elsewhere (the CPU, where the copy is the identity, and Apple's mps, which
    torch gives no side streams) the copy is made in order with the same one-batch look-ahead.
    """
    cuda = torch.cuda if device.type == "cuda" else None
    copy_stream = cuda.Stream() if cuda is not None else None

    def start_copy(batch: Batch) -> tuple[Batch, Any]:
        epoch, samples = batch
        if cuda is None:
            return (epoch, samples.to(device)), None
        with cuda.stream(copy_stream):
            moved = (epoch, samples.to(device, non_blocking=True))
            copied = cuda.Event()
            copied.record(copy_stream)
        return moved, copied

    def hand_over(moved: Batch, copied: Any) -> Batch:
        if cuda is not None:
            compute_stream = cuda.current_stream()
            compute_stream.wait_event(copied)
            for tensor in moved[1].tensors():
                tensor.record_stream(compute_stream)
        return moved

    pending = None
    for batch in batches:
        upcoming = start_copy(batch)
        if pending is not None:
            yield hand_over(*pending)
        pending = upcoming
    if pending is not None:
        yield hand_over(*pending)


class ResidentBatches:
    """The whole training split held on the device; a batch is a gather by the sampler's indices."""

    def __init__(
        self,
        dataset: OpenFWIDataset,
        sampler: ResumableShuffleSampler,
        device: torch.device,
        storage_dtype: str = "float32",
        chunk: int = 64,
    ):
        self.sampler = sampler
        self.device = device
        dtype = STORAGE_TORCH_DTYPES[storage_dtype]
        n = len(dataset)
        self.seismic = torch.empty((n, *SEISMIC_SHAPE), dtype=dtype, device=device)
        self.velocity = torch.empty((n, *VELOCITY_SHAPE), dtype=torch.float32, device=device)
        for start in range(0, n, chunk):
            items = [dataset[i] for i in range(start, min(start + chunk, n))]
            self.seismic[start : start + len(items)] = torch.stack([s for s, _ in items]).to(device, dtype)
            self.velocity[start : start + len(items)] = torch.stack([v for _, v in items]).to(device)
        log.info(
            "training split resident on %s: %d samples, %.2f GB as %s",
            device,
            n,
            self.seismic.nbytes / 1e9,
            storage_dtype,
        )

    def after(self, step: int) -> Iterator[Batch]:
        size = self.sampler.batch_size
        for epoch in self.sampler.epochs_after(step):
            order = torch.tensor(list(self.sampler), dtype=torch.long, device=self.device)
            for start in range(0, len(order), size):
                index = order[start : start + size]
                yield epoch, TrainBatch(self.seismic[index].float(), self.velocity[index], index)


def split_fits_on_device(dataset: OpenFWIDataset, device: torch.device, storage_dtype: str, share: float = 0.5) -> bool:
    """Whether the split in ``storage_dtype`` takes at most ``share`` of the GPU's free memory (never on CPU)."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    needed = len(dataset) * math.prod(SEISMIC_SHAPE) * STORAGE_TORCH_DTYPES[storage_dtype].itemsize
    return needed <= share * free
