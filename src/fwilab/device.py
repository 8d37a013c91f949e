"""Device selection shared by training, evaluation and data generation."""

from __future__ import annotations

import os

import torch

from fwilab.errors import ConfigError


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def resolve_device(device: str) -> torch.device:
    """'auto' is the GPU when one is present, else the CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device={device!r} is not one of auto, cpu, cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but no CUDA GPU is available; use device=auto or cpu")
    return torch.device(device)
