"""The divergence guard: a NaN/Inf loss or gradient norm stops training with the step and lr named.

By default it adds no host sync to a step: the first bad step is recorded on the device and the
run stops at the next check (every log interval and before anything is saved), so no checkpoint
ever holds the damage. With ``skip_allowed = N > 0`` each step is checked as it happens (one sync
per step) and up to N bad steps are skipped before the run is declared diverged.

Under fp16 the gradient scaler owns overflowing gradients: it skips that update and lowers its
scale, so a few skipped steps are normal. Gradients that stay NaN/Inf for more than
``SCALER_SKIP_LIMIT`` consecutive steps (the scale has then fallen by 2^32) mean the run is broken,
and it is declared diverged instead of skipping every remaining step and reporting "completed".
"""

from __future__ import annotations

import logging

import torch

from fwilab.errors import FwilabError

log = logging.getLogger(__name__)


class TrainingDiverged(FwilabError):
    """The loss or the gradients became NaN or Inf."""


SCALER_SKIP_LIMIT = 32


class NonFiniteGuard:
    def __init__(self, skip_allowed: int, device: torch.device, scaler_skips: bool = False):
        self.skip_allowed = skip_allowed
        self.scaler_skips = scaler_skips
        self.skipped = 0
        self.first_bad_step = torch.zeros((), dtype=torch.long, device=device)
        self.scaler_overflows = torch.zeros((), dtype=torch.long, device=device)
        self.lr_by_step: dict[int, float] = {}

    def _diverged(self, step: int, lr: float) -> TrainingDiverged:
        scaler = (
            f" (fp16: or NaN/Inf gradients for {SCALER_SKIP_LIMIT + 1} steps in a row despite loss scaling)"
            if self.scaler_skips
            else ""
        )
        return TrainingDiverged(
            f"loss or gradient became NaN/Inf at step {step} (lr={lr:.3g}){scaler}; lower lr, add warm-up "
            "or set trainer.grad_clip_norm"
        )

    def _finite(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> torch.Tensor:
        if not self.scaler_skips:
            return torch.isfinite(loss) & torch.isfinite(grad_norm)
        self.scaler_overflows = torch.where(torch.isfinite(grad_norm), 0, self.scaler_overflows + 1)
        return torch.isfinite(loss) & (self.scaler_overflows <= SCALER_SKIP_LIMIT)

    def admit(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor, lr: float) -> bool:
        """Whether this step's update may be applied."""
        finite = self._finite(loss, grad_norm)
        if self.skip_allowed:
            if bool(finite):
                return True
            self.skipped += 1
            if self.skipped > self.skip_allowed:
                raise self._diverged(step, lr)
            log.warning(
                "step %d: non-finite loss or gradient, update skipped (%d of %d allowed)",
                step,
                self.skipped,
                self.skip_allowed,
            )
            return False
        self.first_bad_step = torch.where((self.first_bad_step == 0) & ~finite, step, self.first_bad_step)
        self.lr_by_step[step] = lr
        return True

    def check(self) -> None:
        """Raise TrainingDiverged if a step since the last check was bad (one host sync)."""
        bad = int(self.first_bad_step)
        if bad:
            raise self._diverged(bad, self.lr_by_step[bad])
        self.lr_by_step.clear()
