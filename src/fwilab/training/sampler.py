"""A shuffling sampler whose order is a pure function of (seed, epoch), so training can resume mid-epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableShuffleSampler(Sampler[int]):
    """Epoch ``e`` visits a permutation drawn from a generator seeded with (seed, e), dropping the last
    partial batch; ``set_position(epoch, batch)`` starts at any batch of any epoch.

    Two runs with the same seed see the same batches in the same order, whether or not one of them
    was interrupted and resumed in between. Under data parallelism each global batch of
    ``batch_size * world_size`` consecutive permuted indices is split in rank order, so W ranks with
    batch b see exactly the samples one process with batch W * b sees.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        return self.size // (self.batch_size * self.world_size)

    def set_position(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, batch

    def epochs_after(self, step: int) -> Iterator[int]:
        """Positions the sampler just after global step ``step``, then at each following epoch; yields the epoch."""
        epoch, offset = divmod(step, self.batches_per_epoch)
        while True:
            self.set_position(epoch, offset)
            yield epoch
            epoch, offset = epoch + 1, 0

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        global_batch = self.batch_size * self.world_size
        batches = order[: self.batches_per_epoch * global_batch].view(
            self.batches_per_epoch, self.world_size, self.batch_size
        )
        yield from batches[self.start_batch :, self.rank].reshape(-1).tolist()

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size
