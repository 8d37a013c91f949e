"""FLOPs of a model's forward pass, as PyTorch's counter reports them (2 per multiply-add)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from fwilab.models.build import build_model


def forward_flops(model_cfg: Any, sample_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass for one sample of ``sample_shape`` (callers pass the data contract's: models/
    does not import data/), as PyTorch's counter reports them (2 per multiply-add)."""
    model = build_model(model_cfg).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *sample_shape))
    return int(counter.get_total_flops())
