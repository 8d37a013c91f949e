"""The data loss of physics-driven training (UPFWI-style): a network's velocity map re-simulated and compared with
the recorded shot gathers, differentiable through deepwave's adjoint into the network's weights.

Choices, and why (measured with ``scripts``-free runs described in the README's "Physics-driven training"):

* **The map is clamped to the family's velocity range** before it is simulated: the operator is stable up to
  MAX_VELOCITY only, and a cell outside the range is no answer. InversionNet's tanh output already lies in the
  range; the clamp is the guard for a model that does not bound its output.
* **Per-sample relative misfit** (``relative``, the default): ||d(v) - d_obs||^2 / ||d_obs||^2 of each sample,
  averaged over the batch, on the raw gathers. The gathers' scale differs between samples by the top layer's
  velocity (the direct wave sets the maximum), so a plain L2 would let the loudest samples own the gradient; the
  ratio gives each sample the same say, as the refinement's loss does. ``l1_l2`` is UPFWI's pixel loss: the mean
  absolute plus the mean squared difference, here of the gathers compressed as the network sees them
  (``compress``: OpenFWI's log transform and min-max), so that late weak reflections count beside the direct wave.
* **Frequency continuation** (``frequencies_hz``): both gathers low-passed alike (``lowpass``), the lowest band
  first and the full band (``None``) last, the training steps split evenly over the bands: what kept refinement
  from cycle-skipping matters more for a network that starts far from the truth.
* **Depth scaling** (``depth_scaling``): the loss's gradient with respect to each cell of the map is multiplied by
  (depth / model depth) ** p on its way back into the network, as the refinement scales its update, so the deep
  cells (seen only by late, weak reflections) are not left to the shallow ones' gradient.

Where it runs: the maps' device. On a GPU all shots of the batch propagate in one deepwave call. On the CPU the
batch is split over the cores, each propagating and back-propagating its share on one thread (``on_each_core``):
deepwave's own threads wait on each other at every time step of a 94 x 94 grid, and on this 2-core machine, shared
with other jobs, one call on 2 threads took 243 s for the forward and adjoint of 8 samples, one thread 14.6 s.
The samples' losses are independent, so each share's gradient with respect to its maps is computed where it
propagates and handed to autograd as the loss's gradient (``_PerCoreLoss``): the network's backward pass then
stays on torch's threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fwilab.physics.forward import cores_of_this_process, on_each_core, simulate_shot_gathers
from fwilab.physics.misfit import TIME_AXIS, continuation_band, lowpass, relative_misfit

MISFITS = ("relative", "l1_l2")
Compress = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SeismicDataLoss:
    """The data loss of maps in m/s against recorded gathers; see the module's docstring for each field's reason.

    ``velocity_range``: the clamp (vel_min, vel_max); ``compress``: the network's view of the gathers, used by
    ``l1_l2``; ``n_time``: the record length compared (None: the observed record's), shorter for cheap tests;
    ``gradient_sampling_interval``: deepwave sums the gradient every k-th time step, as refinement does (the largest k
    up to this that divides the record: deepwave steps the gradient in whole strides).
    """

    velocity_range: tuple[float, float]
    misfit: str = "relative"
    frequencies_hz: Sequence[float | None] = (None,)
    depth_scaling: float = 0.0
    compress: Compress | None = None
    n_time: int | None = None
    gradient_sampling_interval: int = 1

    def __post_init__(self) -> None:
        if self.misfit not in MISFITS:
            raise ValueError(f"misfit={self.misfit!r} is not one of {MISFITS}")
        if self.misfit == "l1_l2" and self.compress is None:
            raise ValueError("the l1_l2 misfit compares the gathers as the network sees them: pass compress")

    def band(self, step: int, total_steps: int) -> float | None:
        """The cut-off (Hz; None: full band) of training step ``step`` (1-based) of ``total_steps``."""
        return continuation_band(self.frequencies_hz, step - 1, total_steps)

    def per_sample(self, velocity_ms: torch.Tensor, observed: torch.Tensor, cutoff_hz: float | None) -> torch.Tensor:
        """The loss of each sample (n,): ``velocity_ms`` (n, 1, 70, 70) clamped to the range, re-simulated and
        compared with ``observed`` (n, 5, T, 70) raw gathers, both low-passed to ``cutoff_hz`` (``band``).
        Differentiable in ``velocity_ms``; propagated on the maps' device (on the CPU, a share per core)."""
        observed = observed.narrow(TIME_AXIS, 0, self.n_time) if self.n_time else observed
        velocity = velocity_ms.clamp(*self.velocity_range)
        observed = observed.to(velocity.device, torch.float64 if velocity.dtype == torch.float64 else torch.float32)
        return _PerCoreLoss.apply(velocity, observed, self, cutoff_hz)

    def _value_and_gradient(
        self, velocity: torch.Tensor, observed: torch.Tensor, cutoff_hz: float | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-sample losses of maps (n, 1, 70, 70) and the gradient of their sum with respect to the maps,
        scaled by depth: one deepwave call forward, one adjoint."""
        with torch.enable_grad():
            velocity = velocity.detach().requires_grad_(True)
            n_time = observed.shape[TIME_AXIS]
            interval = max(k for k in range(1, self.gradient_sampling_interval + 1) if n_time % k == 0)
            simulated = simulate_shot_gathers(velocity, n_time=n_time, gradient_sampling_interval=interval)
            losses = self._compare(lowpass(simulated, cutoff_hz), lowpass(observed, cutoff_hz))
            (gradient,) = torch.autograd.grad(losses.sum(), velocity)
        if self.depth_scaling:
            rows = gradient.shape[-2]
            depth = torch.arange(1, rows + 1, dtype=gradient.dtype, device=gradient.device) / rows
            gradient = gradient * depth.view(-1, 1) ** self.depth_scaling
        return losses.detach(), gradient

    def _compare(self, simulated: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        if self.misfit == "relative":
            return relative_misfit(simulated, observed).square()
        residual = (self.compress(simulated) - self.compress(observed)).flatten(1)
        return residual.abs().mean(dim=1) + residual.square().mean(dim=1)


class _PerCoreLoss(torch.autograd.Function):
    """Per-sample losses whose gradient with respect to the maps is computed with them, where they propagate."""

    @staticmethod
    def forward(
        ctx: Any, velocity: torch.Tensor, observed: torch.Tensor, loss: SeismicDataLoss, cutoff_hz: float | None
    ) -> torch.Tensor:
        def share(bounds: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
            return loss._value_and_gradient(velocity[bounds[0] : bounds[1]], observed[bounds[0] : bounds[1]], cutoff_hz)

        n = len(velocity)
        if velocity.device.type == "cpu" and n > 1:
            workers = min(cores_of_this_process(), n)
            edges = [round(k * n / workers) for k in range(workers + 1)]
            parts = on_each_core(share, list(zip(edges, edges[1:])))
        else:
            parts = [share((0, n))]
        losses = torch.cat([part[0] for part in parts])
        ctx.save_for_backward(torch.cat([part[1] for part in parts]))
        return losses

    @staticmethod
    def backward(ctx: Any, grad_losses: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (gradient,) = ctx.saved_tensors
        return grad_losses.view(-1, 1, 1, 1) * gradient, None, None, None
