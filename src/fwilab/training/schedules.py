"""Per-step learning-rate schedules with linear warm-up, built once the run's step count is known.

Each function takes the optimizer and the run's total number of optimizer steps (configs give
everything else, with ``_partial_: true``) and returns a ``LambdaLR`` stepped after every batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def _warmup(step: int, warmup_steps: int) -> float:
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def constant(optimizer: Optimizer, total_steps: int, warmup_steps: int = 0) -> LambdaLR:
    """The configured lr after an optional linear warm-up."""
    return LambdaLR(optimizer, lambda step: _warmup(step, warmup_steps))


def warmup_cosine(optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0) -> LambdaLR:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return _warmup(step, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def warmup_multistep(
    optimizer: Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    milestones: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
) -> LambdaLR:
    """OpenFWI's WarmupMultiStepLR: warm-up, then multiply by ``gamma`` at each milestone.

    Milestones are fractions of the run's total steps, so a schedule keeps its shape when the
    budget changes (OpenFWI gives them in epochs).
    """
    boundaries = sorted(int(m * total_steps) for m in milestones)

    def factor(step: int) -> float:
        return _warmup(step, warmup_steps) * gamma ** sum(step >= b for b in boundaries)

    return LambdaLR(optimizer, factor)
