"""Checkpoints: written atomically, read without executing pickled code."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fwilab.errors import CheckpointError
from fwilab.io import atomic_write


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``; an old file survives any failure."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or damaged file is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        unpickler = [line for line in lines if line.startswith("WeightsUnpickler error")]
        detail = unpickler[0] if unpickler else lines[0] if lines else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {detail}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an fwilab checkpoint (no 'model' and 'config' entries)")
    return state


def load_model_weights(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Load ``state['model']`` strictly, naming the checkpoint and the mismatching keys on failure."""
    try:
        result = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as error:
        detail = [line.strip() for line in str(error).splitlines() if line.strip()][-1]
        raise CheckpointError(f"checkpoint {path} does not fit {type(model).__name__}: {detail}") from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} keys (e.g. {result.missing_keys[0]})")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)} keys (e.g. {result.unexpected_keys[0]})")
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit {type(model).__name__}: {'; '.join(problems)}")
