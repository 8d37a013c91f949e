"""A model from its ``model`` config (kept out of ``fwilab.models`` so that importing the networks needs no Hydra)."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from torch import nn

from fwilab.errors import require_whole


def build_model(model_cfg: Any) -> nn.Module:
    """The network a ``model`` config describes (``init_from`` names weights for the trainer to load, not an argument)."""
    width = model_cfg.get("base_channels")
    if width is not None:
        require_whole("model.base_channels", width)
    return instantiate({key: value for key, value in model_cfg.items() if key != "init_from"})
