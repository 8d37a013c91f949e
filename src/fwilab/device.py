"""Device selection shared by training, evaluation and data generation."""

from __future__ import annotations

import torch

from fwilab.errors import ConfigError


def resolve_device(device: str) -> torch.device:
    """'auto' is the GPU when one is present, else the CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"device={device!r} is not one of auto, cpu, cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but no CUDA GPU is available; use device=auto or cpu")
    return torch.device(device)
