"""What every objective is (``Objective``) and what its step computes with (``StepTools``, shared by all)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from fwilab.config.tasks import TrainSettings
from fwilab.data.transforms import Normalizer
from fwilab.training.batches import TrainBatch
from fwilab.training.checkpoint import Stateful
from fwilab.training.distributed import DistributedContext
from fwilab.training.fast_path import FastPath
from fwilab.training.guard import NonFiniteGuard
from fwilab.training.state import TrainState


@dataclass(frozen=True)
class StepTools:
    """What any objective's step computes with: the train state (model, its optimizer, schedule, gradient scaler,
    step), the training replica (compiled and/or DDP-wrapped model), the velocity loss (the ``loss`` group), the
    normalization, the precision and memory format, the model's gradient clip (``math.inf``: none), the divergence
    guard, the processes, and the run's length."""

    state: TrainState
    replica: nn.Module
    velocity_loss: nn.Module
    normalizer: Normalizer
    fast: FastPath
    grad_clip_norm: float
    guard: NonFiniteGuard
    context: DistributedContext
    steps_per_epoch: int
    total_steps: int

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.fast.channels_last else torch.contiguous_format

    def inputs(self, batch: TrainBatch) -> torch.Tensor:
        """The batch's seismic as the model reads it (normalized, in the run's memory format)."""
        return self.normalizer.seismic(batch.seismic).contiguous(memory_format=self.memory_format)


class Objective(ABC):
    """One way of training the model. The loop calls ``step`` once per training step; the step applies its
    update(s) through the divergence guard (``apply_update``), steps its schedules and returns its losses.

    A subclass sets ``name`` (its ``objective.name``) and ``needs_velocity`` (whether training reads velocity labels),
    and may add checkpoint parts (``parts``: restored on resume, so a resume is exact) and checks of the settings
    (``check``, before any data is read).
    """

    name: ClassVar[str]
    needs_velocity: ClassVar[bool]

    def __init__(self, tools: StepTools):
        self.tools = tools

    @classmethod
    def check(cls, settings: TrainSettings) -> None:
        """Refuse settings this objective cannot train with (one ``ConfigError`` naming the key); by default none."""
        return None

    @classmethod
    def labelled_share(cls, settings: TrainSettings) -> float | None:
        """The share of the training split whose velocity the run reads (``fwilab.data.build.build_data``): None,
        all of it, when the objective ``needs_velocity``; else none (0)."""
        return None if cls.needs_velocity else 0.0

    @classmethod
    def build(cls, settings: TrainSettings, tools: StepTools) -> Objective:
        """The objective of a run with ``settings`` (its ``settings.objective``), once the model and data exist."""
        return cls(tools)

    def parts(self) -> dict[str, Stateful]:
        """This objective's checkpoint parts beyond the model's (a critic, its optimizer, ...), by name."""
        return {}

    @abstractmethod
    def step(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        """One training step on ``batch``: the named, detached losses of its update(s) (``loss``, or else the first,
        is the one the progress line and the divergence log report), or {} when the guard skipped an update."""


def apply_update(
    tools: StepTools,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    parameters: Iterable[nn.Parameter],
    max_norm: float,
) -> bool:
    """Backpropagate ``loss`` into ``parameters``' fresh gradients, clip them to ``max_norm`` and step ``optimizer``
    unless the divergence guard refuses (returned: whether the update applied). The gradient scaler is the run's;
    its ``update`` is the step's, once after all its updates."""
    scaler, lr = tools.state.scaler, optimizer.param_groups[0]["lr"]
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    admitted = tools.guard.admit(tools.state.step, loss.detach(), grad_norm, lr)
    if admitted:
        scaler.step(optimizer)
    return admitted
