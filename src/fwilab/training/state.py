"""The train state: what a step changes, in one place for the loop; each member is its own checkpoint part."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class TrainState:
    """Model, optimizer, learning-rate schedule, gradient scaler and step.

    The data order is a function of seed and step, so these (checkpoint parts ``model``, ``optimizer``,
    ``scheduler``, ``scaler``; the step is the checkpoint's) and the random states put a run exactly where it was.
    """

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: torch.amp.GradScaler
    ):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.step = 0

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]
