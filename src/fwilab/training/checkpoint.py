"""Checkpoints: written atomically, read without executing pickled code, with all state for exact resume."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fwilab.errors import CheckpointError, ConfigError
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


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA generator states, as plain data and tensors (weights_only-safe)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointDirectory:
    """``step_XXXXXXXX.pt`` files (the newest ``keep_last`` kept), ``best.pt``, and ``last.pt`` -> the newest."""

    def __init__(self, folder: str | Path, keep_last: int):
        if keep_last < 1:
            raise ConfigError(f"trainer.keep_checkpoints={keep_last} must be at least 1")
        self.folder = Path(folder)
        self.keep_last = keep_last

    def step_files(self) -> list[Path]:
        return sorted(self.folder.glob("step_*.pt"))

    def latest(self) -> Path | None:
        files = self.step_files()
        return files[-1] if files else None

    def save(self, step: int, state: dict[str, Any]) -> Path:
        path = save_checkpoint(self.folder / f"step_{step:08d}.pt", state)
        link = self.folder / "last.pt"
        temporary = self.folder / ".last.pt.tmp"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(path.name)
        os.replace(temporary, link)
        for old in self.step_files()[: -self.keep_last]:
            old.unlink()
        return path

    def save_best(self, state: dict[str, Any]) -> Path:
        return save_checkpoint(self.folder / "best.pt", state)
