"""Checkpoints: what one holds (``Checkpoint``, the one definition of its layout), written atomically, read
without executing pickled code, with all state for an exact resume.

A checkpoint holds the state dict of each named part of a run (torchtitan's ``Stateful`` components:
``state_dict()`` / ``load_state_dict()``), each under its part's name (``model``: the weights), beside the run's
config, fingerprint and normalizer and the step it was taken at. Which parts, when and which file a run continues
is ``fwilab.training.checkpoint_manager``'s. OpenFWI's own format is converted in
``fwilab.training.openfwi_checkpoint``.
"""

from __future__ import annotations

import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from fwilab.errors import CheckpointError
from fwilab.io import atomic_write, check_readable, not_a_file
from fwilab.models import InversionNet
from fwilab.training.openfwi_checkpoint import (
    PICKLED_TYPES,
    export_openfwi_gan_state,
    export_openfwi_state,
    import_openfwi,
    import_openfwi_critic,
    is_openfwi_checkpoint,
)


class Stateful(Protocol):
    """A part of a run that a checkpoint carries (torchtitan's ``Stateful``); modules, optimizers, schedulers and
    gradient scalers are ones as they are."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class RunIdentity:
    """What every checkpoint of one run carries unchanged: its resolved config, the fingerprint a resume is
    checked against, and the normalization constants the model is trained with."""

    config: dict[str, Any]
    fingerprint: dict[str, Any]
    normalizer: dict[str, float]


RUN_KEYS = ("config", "step", "epoch", "normalizer", "fingerprint")  # a file's keys that are not parts
REQUIRED = ("model", "config")  # what every fwilab checkpoint has, the oldest included

# The pre-manager layout (fwilab's files before the checkpoint manager) spread the interval meter's state over
# top-level keys: each such key, with the part and the key it is read into. Its other keys were already one part's
# state each (model, optimizer, scheduler, scaler, rng, record) or the run's (RUN_KEYS), as they are now.
FLAT_KEYS = {"running_loss": ("meter", "loss_sum"), "running_steps": ("meter", "steps")}


def _from_flat_layout(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the pre-manager layout's flat keys (FLAT_KEYS) moved into their parts; other files unchanged."""
    state = dict(state)
    for key, (part, name) in FLAT_KEYS.items():
        if key in state:
            state[part] = {**state.get(part, {}), name: state.pop(key)}
    return state


@dataclass
class Checkpoint:
    """What an fwilab checkpoint holds: each part's state dict by the part's name (``model``: the weights), and the
    run's facts. A fact left None is not written; a fact a file lacks reads as its default."""

    parts: dict[
        str, Any
    ]  # each part's state dict, by name; written as top-level keys, so a file's "model" is the weights
    config: dict[str, Any]  # the run's resolved config
    step: int = 0
    epoch: int | None = None
    normalizer: dict[str, float] | None = None
    fingerprint: dict[str, Any] | None = None

    @property
    def model(self) -> dict[str, torch.Tensor]:
        return self.parts["model"]

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Checkpoint:
        """A file's content, of this layout or the pre-manager one (FLAT_KEYS)."""
        state = _from_flat_layout(state)
        facts = {key: state[key] for key in RUN_KEYS if key in state}
        return cls(parts={key: value for key, value in state.items() if key not in RUN_KEYS}, **facts)

    def to_dict(self) -> dict[str, Any]:
        facts = {key: getattr(self, key) for key in RUN_KEYS if getattr(self, key) is not None}
        return {**self.parts, **facts}

    @classmethod
    def read(cls, path: str | Path) -> Checkpoint:
        return cls.from_dict(load_checkpoint(path))

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, self.to_dict())

    def weights_only(self) -> Checkpoint:
        """The weights, config, normalizer, step and fingerprint, without the other parts (optimizer, random states)."""
        return Checkpoint(
            parts={"model": self.model},
            config=self.config,
            step=self.step,
            normalizer=self.normalizer,
            fingerprint=self.fingerprint,
        )


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``; an old file survives any failure."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _torch_load(path: Path, safe_types: list[type] | None = None) -> Any:
    """``torch.load`` with ``weights_only=True`` (plus ``safe_types``); a missing or damaged file is a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} {not_a_file(path)}")
    check_readable(path)
    try:
        with torch.serialization.safe_globals(safe_types or []):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        blocked = re.search(r"\bGLOBAL ([\w.]+)", str(error))  # torch's wording varies by version and cause
        if blocked:
            raise CheckpointError(
                f"cannot read checkpoint {path}: it holds a {blocked[1]} object, which is not unpickled "
                "(weights_only=True: only tensors and plain data are read, no pickled code runs)"
            ) from None
        text = str(error).split("WeightsUnpickler error:")[-1]  # the cause, after torch's advice to load unsafely
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        detail = lines[0] if lines else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {detail}") from None


def _is_fwilab_checkpoint(state: Any) -> bool:
    return isinstance(state, dict) and all(key in state for key in REQUIRED)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read an fwilab checkpoint file (weights, config and training state) as the dictionary it holds."""
    path = Path(path)
    state = _torch_load(path)
    if not _is_fwilab_checkpoint(state):
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


def read_saved_model(path: str | Path) -> SavedModel:
    """Weights of an fwilab checkpoint or an OpenFWI one (``checkpoint.pth`` / ``model_N.pth``).

    OpenFWI stores its options as an ``argparse.Namespace``: that one type is allowed besides
    tensors and plain data; nothing else is unpickled.
    """
    path = Path(path)
    state = _torch_load(path, PICKLED_TYPES)
    if _is_fwilab_checkpoint(state):
        saved = Checkpoint.from_dict(state)
        return SavedModel(path, saved.model, saved.step, saved.config, saved.normalizer)
    if is_openfwi_checkpoint(state):
        weights, step, args = import_openfwi(state)
        return SavedModel(path, weights, step, None, None, args)
    raise CheckpointError(
        f"{path} is neither an fwilab checkpoint ('model' and 'config') nor an OpenFWI one ('model' and 'args')"
    )


def read_saved_critic(path: str | Path) -> dict[str, torch.Tensor]:
    """A VelocityGAN critic's weights: an fwilab ``objective=velocitygan`` checkpoint's ``critic`` part, or the
    ``model_d`` of an OpenFWI ``gan_train.py`` checkpoint; a checkpoint of another objective is refused by name."""
    path = Path(path)
    state = _torch_load(path, PICKLED_TYPES)
    if _is_fwilab_checkpoint(state):
        saved = Checkpoint.from_dict(state)
        if "critic" not in saved.parts:
            objective = (saved.config.get("objective") or {}).get("name", "supervised")
            raise CheckpointError(
                f"{path} is an fwilab objective={objective} checkpoint (no critic); a VelocityGAN critic starts from "
                "an objective=velocitygan one or an OpenFWI gan_train.py one"
            )
        return saved.parts["critic"]
    if is_openfwi_checkpoint(state):
        return import_openfwi_critic(state, path)
    raise CheckpointError(
        f"{path} is neither an fwilab checkpoint ('model' and 'config') nor an OpenFWI one ('model' and 'args')"
    )


BEST_WEIGHTS = "best_weights.pt"  # beside best.pt: its weights without training state, the run's model artifact


def export_weights(checkpoint: str | Path, path: str | Path) -> Path:
    """The weights, config, normalizer and step of an fwilab checkpoint, without optimizer and random states."""
    return Checkpoint.read(checkpoint).weights_only().save(path)


def export_openfwi(model: nn.Module, step: int, epoch: int, path: str | Path, gan: Checkpoint | None = None) -> Path:
    """Write ``model``'s weights as OpenFWI's ``train.py`` does, so its ``test.py --resume`` reads them; with ``gan``
    (an fwilab VelocityGAN checkpoint) as its ``gan_train.py`` does, critic and optimizers included, so that
    ``gan_train.py --resume`` continues it.

    Only OpenFWI's own InversionNet (base_channels=32) fits its network.py.
    """
    reference = InversionNet().state_dict()
    state = export_openfwi_state(model.state_dict(), reference, type(model).__name__, step, epoch)
    if gan is not None:
        optimizers = (gan.parts["optimizer"], gan.parts["critic_optimizer"])
        state = export_openfwi_gan_state(state, gan.parts["critic"], optimizers, step)
    return save_checkpoint(path, state)


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

    def save(self, step: int, checkpoint: Checkpoint) -> Path:
        path = checkpoint.save(self.folder / f"step_{step:08d}.pt")
        link = self.folder / "last.pt"
        temporary = self.folder / ".last.pt.tmp"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(path.name)
        os.replace(temporary, link)
        for old in self.step_files()[: -self.keep_last]:
            old.unlink()
        return path

    def save_best(self, checkpoint: Checkpoint) -> Path:
        return checkpoint.save(self.folder / "best.pt")

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
