"""OpenFWI's checkpoint format (its ``train.py``'s ``checkpoint.pth`` / ``model_N.pth``), beside its data format.

OpenFWI saves ``{'model', 'optimizer', 'lr_scheduler', 'epoch', 'step', 'args'}`` with its options as an
``argparse.Namespace``; its ``test.py --resume`` reads ``model``, ``epoch`` and ``step``. Pure conversions of
those dictionaries: reading and writing the files is the checkpoint module's.
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


def import_openfwi(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], int, dict[str, Any]]:
    """The weights (module names as fwilab's InversionNet spells them), step and options of an OpenFWI checkpoint."""
    weights = {_LEGACY_NAMES.sub(".layers.", key): value for key, value in state["model"].items()}
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
