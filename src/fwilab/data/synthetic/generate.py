"""Write OpenFWI-format synthetic data sets: resumable, atomic, byte-for-byte reproducible.

Layout of a generated data set (the official download's naming, so ``data=<family>`` configs can
read it too)::

    out/plan.json            what is being generated (checked on resume)
    out/data/dataN.npy       (n, 5, 1000, 70) float32 shot gathers, n <= samples_per_file
    out/model/modelN.npy     (n, 1, 70, 70) float32 velocity in m/s
    out/train.txt, val.txt   OpenFWI split files (relative paths)
    out/metadata.json        written last: family, seed, counts, version; the family's published
                             data min/max (normalization) beside the observed ones; acquisition;
                             the velocity maps' statistics against real maps (faithfulness.py)

Files 1..K hold the training split, K+1.. the validation split. File N's models come from a
random generator seeded with (seed, N), so any file can be (re)made alone: an interrupted run
continues with the first missing file, and the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fwilab.data.openfwi import FilePair, identify_folder, write_split_file
from fwilab.data.synthetic import GENERATOR_VERSION
from fwilab.data.synthetic.faithfulness import compare_with_targets, family_statistics
from fwilab.data.synthetic.velocity import VEL_MAX, VEL_MIN, recipe_for, velocity_models
from fwilab.data_contract import published_seismic_range
from fwilab.device import available_cores, resolve_device
from fwilab.errors import DataError
from fwilab.io import atomic_write, write_json
from fwilab.physics import forward
from fwilab.progress import Progress
from fwilab.run_lock import LOCK_NAME, RunLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationPlan:
    """Everything that determines the bytes of a generated data set."""

    family: str
    n_train: int
    n_val: int
    seed: int = 0
    samples_per_file: int = 500
    generator_version: int = GENERATOR_VERSION

    def __post_init__(self) -> None:
        recipe_for(self.family)
        if self.n_train < 1 or self.n_val < 1:
            raise DataError(f"n_train and n_val must be at least 1 (got {self.n_train}, {self.n_val})")
        if not 1 <= self.samples_per_file <= 500:
            raise DataError(f"samples_per_file must be in 1..500 (got {self.samples_per_file})")

    @property
    def train_files(self) -> int:
        return math.ceil(self.n_train / self.samples_per_file)

    def file_sizes(self) -> list[int]:
        """Number of samples in each file, train files first."""
        sizes = []
        for total in (self.n_train, self.n_val):
            full, rest = divmod(total, self.samples_per_file)
            sizes += [self.samples_per_file] * full + ([rest] if rest else [])
        return sizes


def file_pair(out: Path, number: int) -> FilePair:
    return FilePair(out / "data" / f"data{number}.npy", out / "model" / f"model{number}.npy")


def save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))


def refuse_foreign_folder(out: Path) -> None:
    """Refuse to write into a folder fwilab's generator did not make (its mark: ``plan.json``), unless it is empty.

    A user's data (an unpacked OpenFWI download above all) must never gain generated files, nor
    have its files taken for generated ones.
    """
    if not out.exists() or (out / "plan.json").is_file():
        return
    if not out.is_dir():
        raise DataError(f"cannot generate a data set in {out}: it is a file, not a folder")
    if any(out.iterdir()):
        description, families = identify_folder(out)
        others = f" (or {', '.join(families[1:])})" if len(families) > 1 else ""
        use = f"data={families[0]}{others} data.root={out}" if families else f"data=<family> data.root={out}"
        raise DataError(
            f"{out} holds files fwilab did not generate ({description}); fwilab never writes into them: "
            f"to train on them use {use}, or generate into an empty folder"
        )


def _check_plan(out: Path, plan: GenerationPlan) -> None:
    plan_file = out / "plan.json"
    if plan_file.exists():
        previous = json.loads(plan_file.read_text())
        changed = {k: (previous.get(k), v) for k, v in asdict(plan).items() if previous.get(k) != v}
        if changed:
            detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise DataError(f"{out} holds a different data set ({detail}); choose another out= or delete it")
    else:
        write_json(plan_file, asdict(plan))


def generate_file(
    plan: GenerationPlan, number: int, size: int, batch_size: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """The (seismic, velocity) arrays of file ``number``, independent of every other file."""
    rng = np.random.default_rng([plan.seed, number])
    velocity = velocity_models(rng, plan.family, size)
    return forward.simulate_models(velocity, batch_size, device), velocity


def _observed_range(pairs: list[FilePair]) -> tuple[float, float]:
    low, high = math.inf, -math.inf
    for pair in pairs:
        seismic = np.load(pair.seismic, mmap_mode="r")
        low, high = min(low, float(seismic.min())), max(high, float(seismic.max()))
    return low, high


def _metadata(plan: GenerationPlan, pairs: list[FilePair]) -> dict:
    """metadata.json: the plan, the family's published normalization constants beside the observed
    range, the acquisition, and the velocity maps' statistics against what real maps show."""
    observed_min, observed_max = _observed_range(pairs)
    data_min, data_max = published_seismic_range(plan.family)
    velocity = np.concatenate([np.load(pair.velocity) for pair in pairs])
    return {
        **asdict(plan),
        "data_min": data_min,
        "data_max": data_max,
        "observed_data_min": observed_min,
        "observed_data_max": observed_max,
        "vel_min": VEL_MIN,
        "vel_max": VEL_MAX,
        "train_split": "train.txt",
        "val_split": "val.txt",
        "acquisition": {
            "source_x_cells": list(forward.SOURCE_X),
            "depth_cells": forward.SOURCE_DEPTH_CELLS,
            "grid_spacing_m": forward.GRID_SPACING_M,
            "dt_s": forward.DT_S,
            "n_time": forward.N_TIME,
            "peak_frequency_hz": forward.PEAK_FREQUENCY_HZ,
            "pml_width_cells": forward.PML_WIDTH,
            "free_surface": False,
            "courant_number": forward.COURANT_NUMBER,
            "source_amplitude": forward.SOURCE_AMPLITUDE,
        },
        "faithfulness": compare_with_targets(plan.family, family_statistics(velocity)),
    }


def generate_dataset(
    out: str | Path,
    plan: GenerationPlan,
    batch_size: int = 32,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Generate (or finish generating) the data set ``plan`` describes under ``out``; returns its metadata."""
    out = Path(out)
    refuse_foreign_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create data directory {out}: {error.strerror}") from None
    _check_plan(out, plan)
    torch_device = resolve_device(device, allow_mps=False)  # deepwave propagates on CPU and CUDA only
    sizes = plan.file_sizes()
    pairs = [file_pair(out, number) for number in range(1, len(sizes) + 1)]
    done = [p.seismic.exists() and p.velocity.exists() for p in pairs]
    bar = Progress(
        sum(sizes),
        f"generating {plan.family}",
        unit="models",
        initial=sum(s for s, d in zip(sizes, done) if d),
        enabled=progress,
    )
    started, made = time.perf_counter(), 0
    with bar:
        for number, (pair, size, finished) in enumerate(zip(pairs, sizes, done), start=1):
            if finished:
                continue
            seismic, velocity = generate_file(plan, number, size, batch_size, torch_device)
            save_npy(pair.velocity, velocity)
            save_npy(pair.seismic, seismic)
            bar.update(size)
            made += size
    if made:
        seconds = time.perf_counter() - started
        threads = f"{available_cores()} threads" if torch_device.type == "cpu" else "1 stream"
        log.info(
            "generated %d %s models in %.1f s: %.1f models/s on %s (%s)",
            made,
            plan.family,
            seconds,
            made / seconds,
            torch_device.type,
            threads,
        )
    write_split_file(out / "train.txt", pairs[: plan.train_files], out)
    write_split_file(out / "val.txt", pairs[plan.train_files :], out)
    metadata = _metadata(plan, pairs)
    write_json(out / "metadata.json", metadata)
    return metadata


def generation_lock(out: Path) -> RunLock:
    """The lock of generating into ``out``: ``.<name>.fwilab.lock`` beside it (inside, the folder would not be empty
    or the generator's own), fwilab's file lock, which holds on NFS and Lustre where ``flock`` does not."""
    return RunLock(out.parent, f".{out.name}{LOCK_NAME}")


def ensure_dataset(out: str | Path, plan: GenerationPlan, device: str = "auto", batch_size: int = 32) -> dict:
    """The metadata of the data set at ``out``, generating it first when it is missing or unfinished.

    Safe when several processes (multirun jobs, DDP ranks; on one host or several) ask at once: one generates,
    the others wait; a holder that died is taken over.
    """
    out = Path(out)
    metadata_file = out / "metadata.json"
    refuse_foreign_folder(out)  # before the lock file beside it is made
    lock = generation_lock(out).acquire_waiting()
    try:
        if metadata_file.exists():
            metadata = json.loads(metadata_file.read_text())
            if all(metadata.get(k) == v for k, v in asdict(plan).items()):
                log.info("using the synthetic %s data set in %s", plan.family, out)
                return metadata
        log.info("generating the synthetic %s data set in %s (first use)", plan.family, out)
        return generate_dataset(out, plan, batch_size=batch_size, device=device)
    finally:
        lock.release()
