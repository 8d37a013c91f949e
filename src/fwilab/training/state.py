"""The train state: everything a step changes and a resumed run needs back, handed to a checkpoint as a ``Stateful``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fwilab.training.checkpoint import load_model_weights
from fwilab.training.randomness import restore_rng_state, rng_state


class TrainState:
    """Model, optimizer, learning-rate schedule, gradient scaler, step and random states.

    The data order is a function of seed and step, so ``load_state_dict(state_dict())`` puts a run
    exactly where it was.
    """

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: torch.amp.GradScaler
    ):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.step = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any], path: str | Path = "the checkpoint") -> None:
        """Restore from a checkpoint read from ``path`` (named in errors)."""
        load_model_weights(self.model, state["model"], path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        restore_rng_state(state["rng"])

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]
