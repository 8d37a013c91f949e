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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from fwilab.physics.forward import simulate_shot_gathers
from fwilab.physics.misfit import TIME_AXIS, continuation_band, lowpass, relative_misfit

MISFITS = ("relative", "l1_l2")
Compress = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SeismicDataLoss:
    """The data loss of maps in m/s against recorded gathers; see the module's docstring for each field's reason.

    ``velocity_range``: the clamp (vel_min, vel_max); ``compress``: the network's view of the gathers, used by
    ``l1_l2``; ``n_time``: the record length compared (None: the observed record's), shorter for cheap tests.
    """

    velocity_range: tuple[float, float]
    misfit: str = "relative"
    frequencies_hz: Sequence[float | None] = (None,)
    depth_scaling: float = 0.0
    compress: Compress | None = None
    n_time: int | None = None

    def __post_init__(self) -> None:
        if self.misfit not in MISFITS:
            raise ValueError(f"misfit={self.misfit!r} is not one of {MISFITS}")
        if self.misfit == "l1_l2" and self.compress is None:
            raise ValueError("the l1_l2 misfit compares the gathers as the network sees them: pass compress")

    def simulate(self, velocity_ms: torch.Tensor, n_time: int) -> torch.Tensor:
        """Gathers (n, 5, n_time, 70) of maps (n, 1, 70, 70) in m/s, clamped to the range, on the maps' device."""
        velocity = velocity_ms.clamp(*self.velocity_range)
        if self.depth_scaling and velocity.requires_grad:
            velocity.register_hook(self._scale_by_depth)
        return simulate_shot_gathers(velocity, n_time=n_time)

    def _scale_by_depth(self, gradient: torch.Tensor) -> torch.Tensor:
        rows = gradient.shape[-2]
        depth = torch.arange(1, rows + 1, dtype=gradient.dtype, device=gradient.device) / rows
        return gradient * depth.view(-1, 1) ** self.depth_scaling

    def per_sample(self, velocity_ms: torch.Tensor, observed: torch.Tensor, cutoff_hz: float | None) -> torch.Tensor:
        """The loss of each sample (n,): ``velocity_ms`` (n, 1, 70, 70) re-simulated against ``observed``
        (n, 5, T, 70) raw gathers, both low-passed to ``cutoff_hz`` (``band``). Differentiable in ``velocity_ms``."""
        observed = observed.narrow(TIME_AXIS, 0, self.n_time) if self.n_time else observed
        simulated = self.simulate(velocity_ms, observed.shape[TIME_AXIS])
        observed = observed.to(simulated.device, simulated.dtype)
        simulated, observed = lowpass(simulated, cutoff_hz), lowpass(observed, cutoff_hz)
        if self.misfit == "relative":
            return relative_misfit(simulated, observed).square()
        residual = (self.compress(simulated) - self.compress(observed)).flatten(1)
        return residual.abs().mean(dim=1) + residual.square().mean(dim=1)

    def band(self, step: int, total_steps: int) -> float | None:
        """The cut-off (Hz; None: full band) of training step ``step`` (1-based) of ``total_steps``."""
        return continuation_band(self.frequencies_hz, step - 1, total_steps)
