"""Checkpoints: written atomically, read without executing pickled code, with all state for exact resume."""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fwilab.errors import CheckpointError
from fwilab.io import atomic_write, check_readable
from fwilab.models import InversionNet


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``; an old file survives any failure."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _torch_load(path: Path, safe_types: list[type] | None = None) -> Any:
    """``torch.load`` with ``weights_only=True`` (plus ``safe_types``); a missing or damaged file is a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    check_readable(path)
    try:
        with torch.serialization.safe_globals(safe_types or []):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        blocked = re.search(r"GLOBAL ([\w.]+) was not an allowed global", str(error))
        if blocked:
            raise CheckpointError(
                f"cannot read checkpoint {path}: it holds a {blocked[1]} object, which is not unpickled "
                "(weights_only=True: only tensors and plain data are read, no pickled code runs)"
            ) from None
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        unpickler = [line for line in lines if line.startswith("WeightsUnpickler error")]
        detail = unpickler[0] if unpickler else lines[0] if lines else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {detail}") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read an fwilab checkpoint (weights, config and training state)."""
    path = Path(path)
    state = _torch_load(path)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an fwilab checkpoint (no 'model' and 'config' entries)")
    return state


@dataclass
class SavedModel:
    """Weights from an fwilab checkpoint or from OpenFWI's ``train.py``, and what came with them."""

    path: Path
    weights: dict[str, torch.Tensor]
    step: int
    config: dict[str, Any] | None  # fwilab's resolved run config; None for an OpenFWI file
    normalizer: dict[str, float] | None  # the constants the model was trained with; None for an OpenFWI file
    openfwi_args: dict[str, Any] | None = None  # OpenFWI's argparse options (model, dataset, ...)


# OpenFWI's network.replace_legacy: older releases named each block's Sequential after its type.
_OPENFWI_LEGACY_NAMES = re.compile(r"\.(ResizeConv2DwithBN|Deconv2DwithBN|Conv2DwithBN_Tanh|Conv2DwithBN)\.")


def read_saved_model(path: str | Path) -> SavedModel:
    """Weights of an fwilab checkpoint or an OpenFWI one (``checkpoint.pth`` / ``model_N.pth``).

    OpenFWI stores its options as an ``argparse.Namespace``: that one type is allowed besides
    tensors and plain data; nothing else is unpickled.
    """
    path = Path(path)
    state = _torch_load(path, [argparse.Namespace])
    if isinstance(state, dict) and "model" in state and "config" in state:
        return SavedModel(path, state["model"], int(state.get("step", 0)), state["config"], state.get("normalizer"))
    if isinstance(state, dict) and isinstance(state.get("model"), dict) and "args" in state:
        weights = {_OPENFWI_LEGACY_NAMES.sub(".layers.", key): value for key, value in state["model"].items()}
        args = vars(state["args"]) if isinstance(state["args"], argparse.Namespace) else dict(state["args"] or {})
        return SavedModel(path, weights, int(state.get("step", 0)), None, None, args)
    raise CheckpointError(
        f"{path} is neither an fwilab checkpoint ('model' and 'config') nor an OpenFWI one ('model' and 'args')"
    )


def export_weights(checkpoint: str | Path, path: str | Path) -> Path:
    """The weights, config, normalizer and step of an fwilab checkpoint, without optimizer and random states."""
    state = load_checkpoint(checkpoint)
    return save_checkpoint(
        path, {key: state[key] for key in ("model", "config", "normalizer", "step", "fingerprint") if key in state}
    )


def export_openfwi(model: nn.Module, step: int, epoch: int, path: str | Path) -> Path:
    """Write ``model``'s weights as OpenFWI's ``train.py`` does, so its ``test.py --resume`` reads them.

    Only OpenFWI's own InversionNet (base_channels=32) fits its network.py.
    """
    reference = {key: value.shape for key, value in InversionNet().state_dict().items()}
    weights = model.state_dict()
    if {key: value.shape for key, value in weights.items()} != reference:
        raise CheckpointError(
            f"OpenFWI's network.py has no {type(model).__name__} of these shapes; only InversionNet with base_channels=32 exports"
        )
    return save_checkpoint(path, {"model": weights, "epoch": epoch, "step": step})


def load_model_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``weights`` strictly, naming the checkpoint and the mismatching keys on failure."""
    try:
        result = model.load_state_dict(weights, strict=False)
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
    if state["cuda"] and torch.cuda.is_available():  # a requeued job may see fewer (or more) devices
        for index, device_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state, index)


class CheckpointDirectory:
    """``step_XXXXXXXX.pt`` files (the newest ``keep_last`` kept), ``best.pt``, and ``last.pt`` -> the newest.

    The folder only ever holds one run's timeline: a run that does not continue the newest
    checkpoint moves the old ones aside first, so retention by step number never drops a new file.
    """

    def __init__(self, folder: str | Path, keep_last: int):
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

    def move_aside(self) -> Path | None:
        """Rename the folder to ``checkpoints.replaced-<date>-<time>`` when it holds checkpoints; where they went."""
        if not any(self.folder.glob("*.pt")):
            return None
        target = self.folder.with_name(f"{self.folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        suffix = 1
        while target.exists():
            target = target.with_name(f"{self.folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}-{suffix}")
            suffix += 1
        self.folder.rename(target)
        return target
