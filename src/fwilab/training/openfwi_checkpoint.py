"""OpenFWI's checkpoint format (its ``train.py``'s ``checkpoint.pth`` / ``model_N.pth``), beside its data format.

OpenFWI's ``train.py`` saves ``{'model', 'optimizer', 'lr_scheduler', 'epoch', 'step', 'args'}`` with its options as
an ``argparse.Namespace``; its ``gan_train.py`` (VelocityGAN) saves ``{'model', 'model_d', 'optimizer_g',
'optimizer_d', 'lr_schedulers', 'epoch', 'step', 'args'}`` (``model`` the generator, ``model_d`` the critic, one
schedule per optimizer) and its ``--resume`` reads all but ``args``; ``test.py --resume`` reads ``model``, ``epoch``
and ``step`` of either. Pure conversions of those dictionaries: reading and writing the files is the checkpoint
module's.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import torch

from fwilab.errors import CheckpointError

PICKLED_TYPES = [argparse.Namespace]  # the one non-plain type an OpenFWI file holds, allowed when reading it

# OpenFWI's network.replace_legacy: older releases named each block's Sequential after its type.
_LEGACY_NAMES = re.compile(r"\.(ResizeConv2DwithBN|Deconv2DwithBN|Conv2DwithBN_Tanh|Conv2DwithBN)\.")


def is_openfwi_checkpoint(state: Any) -> bool:
    return isinstance(state, dict) and isinstance(state.get("model"), dict) and "args" in state


def openfwi_objective(state: dict[str, Any]) -> str:
    """Which OpenFWI script saved ``state``: ``gan_train.py`` (a critic, ``model_d``, beside the model) or ``train.py``."""
    return "gan_train.py" if isinstance(state.get("model_d"), dict) else "train.py"


def _current_names(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {_LEGACY_NAMES.sub(".layers.", key): value for key, value in weights.items()}


def import_openfwi_critic(state: dict[str, Any], path: Any) -> dict[str, torch.Tensor]:
    """The critic (``model_d``) of an OpenFWI ``gan_train.py`` checkpoint; a ``train.py`` one is refused by name."""
    if openfwi_objective(state) != "gan_train.py":
        raise CheckpointError(
            f"{path} is an OpenFWI train.py checkpoint (supervised: no critic 'model_d'); a VelocityGAN critic "
            "starts from a gan_train.py checkpoint or an fwilab objective=velocitygan one"
        )
    return _current_names(state["model_d"])


def import_openfwi(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], int, dict[str, Any]]:
    """The weights (module names as fwilab's InversionNet spells them), step and options of an OpenFWI checkpoint."""
    weights = _current_names(state["model"])
    args = vars(state["args"]) if isinstance(state["args"], argparse.Namespace) else dict(state["args"] or {})
    return weights, int(state.get("step", 0)), args


def export_openfwi_state(
    weights: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], model_name: str, step: int, epoch: int
) -> dict[str, Any]:
    """``weights`` as OpenFWI's ``train.py`` saves them, when their shapes are those of ``reference`` (OpenFWI's
    InversionNet): only that network exists in its network.py."""
    if {key: value.shape for key, value in weights.items()} != {key: value.shape for key, value in reference.items()}:
        raise CheckpointError(
            f"OpenFWI's network.py has no {model_name} of these shapes; only InversionNet with base_channels=32 exports"
        )
    return {"model": weights, "epoch": epoch, "step": step}


def export_openfwi_gan_state(
    generator: dict[str, Any], critic: dict[str, Any], optimizers: tuple[dict[str, Any], dict[str, Any]], step: int
) -> dict[str, Any]:
    """The parts of a VelocityGAN checkpoint that OpenFWI's ``gan_train.py --resume`` adds to ``test.py``'s:
    ``model_d``, ``optimizer_g`` / ``optimizer_d`` (torch AdamW state dicts, as both scripts use) and
    ``lr_schedulers``: each schedule's position (``last_epoch`` = the step), so OpenFWI's WarmupMultiStepLR continues
    from there with its own milestones and base rates. ``generator``: ``export_openfwi_state``'s dictionary."""
    position = {"last_epoch": step, "_step_count": step + 1}
    return {
        **generator,
        "model_d": critic,
        "optimizer_g": optimizers[0],
        "optimizer_d": optimizers[1],
        "lr_schedulers": [dict(position), dict(position)],
    }
