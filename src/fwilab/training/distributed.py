"""Data-parallel training across processes started by ``torchrun`` (one process per device).

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK (under SLURM's submitit launcher, with
``trainer=ddp``, they are derived from SLURM's variables); with ``trainer.distributed=auto`` (the
default) or ``true`` a WORLD_SIZE above 1 becomes a process group (NCCL on GPUs, gloo on CPUs), so
``torchrun`` alone gives one data-parallel run, never N runs writing one run directory; ``false``
refuses to start there. Without them the context is a single process and every collective is a no-op, so the
loop has one code path.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from fwilab.config.groups import TrainerSettings
from fwilab.device import resolve_device
from fwilab.errors import ConfigError


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over ranks, on the tensor's device (the tensor itself when single-process)."""
        if not self.active:
            return tensor
        on_device = tensor.to(self.device)
        dist.all_reduce(on_device, op=dist.ReduceOp.SUM)
        return on_device.to(tensor.device)

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        if not self.active:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def union(self, names: Iterable[str]) -> list[str]:
        """The sorted union of every rank's ``names``: the same list on every rank (ranks whose objective returned
        other losses, e.g. a semi-supervised batch without a label, then issue the same collectives)."""
        if not self.active:
            return sorted(names)
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, sorted(names))
        return sorted(set().union(*gathered))

    def broadcast_from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        holder = [obj]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank: what its checkpoint holds."""
        if self.active:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    def check_same_weights(self, module: torch.nn.Module) -> str:
        """The SHA-256 of the weights, after checking every rank holds the same bytes (a broken all-reduce would not)."""
        digest = hashlib.sha256()
        for tensor in module.state_dict().values():
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        mine = digest.hexdigest()
        if self.active:
            every = [None] * self.world_size
            dist.all_gather_object(every, mine)
            if len(set(every)) > 1:
                raise RuntimeError(f"data-parallel ranks hold different weights (SHA-256 per rank: {every})")
        return mine

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def _adopt_slurm_environment() -> None:
    """Under a multi-task SLURM job (hydra-submitit-launcher) set torchrun's variables from SLURM's."""
    if "RANK" not in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        from submitit.helpers import TorchDistributedEnvironment  # only present with the cluster extra

        TorchDistributedEnvironment().export()


def init_distributed(trainer: TrainerSettings) -> DistributedContext:
    """The process group for this rank, or a single-process context; ``trainer.distributed=false`` refuses WORLD_SIZE > 1."""
    setting = trainer.distributed
    if setting is True:  # SLURM_NTASKS is the job's, also seen by a single process in its batch script: only on request
        _adopt_slurm_environment()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext(device=resolve_device(trainer.device))
    if setting is False:
        raise ConfigError(
            f"WORLD_SIZE={world_size} (torchrun or SLURM started {world_size} processes) with "
            "trainer.distributed=false: each would train alone into the same run directory; drop "
            "trainer.distributed=false to train data-parallel, or start one process"
        )
    if "RANK" not in os.environ:
        raise ConfigError("trainer.distributed=true needs torchrun (RANK and WORLD_SIZE are not set)")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(trainer.device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = trainer.backend
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, device=device)
