"""Wave-equation refinement (full-waveform inversion) of velocity maps: descend the data misfit over the velocity.

Choices, and why:

* **Adam on the velocity in m/s**, its step (``step_ms``) in m/s: Adam's update is about the step per
  pixel whatever the gradient's scale, and the gradient of the wave equation spans orders of magnitude
  between the shallow cells beside the sources and the deep ones, so a plain gradient step would move
  only the top rows.
* **Frequency continuation**: the observed and simulated data are low-passed alike (``lowpass``, a
  differentiable FFT taper), the lowest band first, then wider ones up to the full band; the
  iterations are split evenly over the stages. Low frequencies have long periods, so a start whose
  arrivals are off by more than half a 15 Hz period (cycle-skipped) can still move towards the truth.
* **Gradient smoothing**: a Gaussian of ``smoothing_cells`` cells on the gradient keeps the updates
  smooth in space (the wavelength at 15 Hz is 10-30 cells), so no pixel-scale noise builds up.
* **Velocity clamped** to [vel_min, vel_max] after each step: the forward operator is stable up to
  MAX_VELOCITY only, and a map outside the family's range is not a valid answer.

Samples are independent: their shots propagate together in one deepwave call, and the loss is the
sum of the samples' squared relative misfits, so each map gets its own gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fwilab.data.synthetic.forward import simulate_shot_gathers
from fwilab.errors import ConfigError, require_whole
from fwilab.physics.misfit import TIME_AXIS, check_velocity_range, lowpass, relative_misfit

IterationCallback = Callable[[int, torch.Tensor, torch.Tensor], None]  # (iteration, velocity, misfit per sample)


@dataclass(frozen=True)
class RefineSettings:
    """How refinement steps: its budget, step, frequency stages, smoothing and the velocity bounds."""

    iterations: int
    step_ms: float = 20.0
    frequencies_hz: Sequence[float | None] = (5.0, 10.0, None)  # None: the full band
    smoothing_cells: float = 1.0
    vel_min: float = 1500.0
    vel_max: float = 4500.0

    def check(self) -> None:
        """One ConfigError naming the setting at fault, before any work."""
        require_whole("iterations", self.iterations)
        if not self.step_ms > 0:
            raise ConfigError(f"step_ms={self.step_ms!r} must be a positive step in m/s")
        if not self.smoothing_cells >= 0:
            raise ConfigError(f"smoothing_cells={self.smoothing_cells!r} must be 0 (no smoothing) or positive")
        bands = [f for f in self.frequencies_hz if f is not None]
        if not self.frequencies_hz or any(f <= 0 for f in bands) or bands != sorted(bands):
            raise ConfigError(
                f"frequencies_hz={list(self.frequencies_hz)} must list positive cut-offs in Hz from low to high "
                "(null: the full band, last)"
            )
        if None in self.frequencies_hz[:-1]:
            raise ConfigError(f"frequencies_hz={list(self.frequencies_hz)}: the full band (null) can only come last")
        check_velocity_range(self.vel_min, self.vel_max)


def gaussian_smooth(field: torch.Tensor, sigma_cells: float) -> torch.Tensor:
    """``field`` (n, 1, H, W) convolved with a normalized Gaussian of ``sigma_cells``, edges replicated."""
    if sigma_cells == 0:
        return field
    radius = max(1, round(3 * sigma_cells))
    offsets = torch.arange(-radius, radius + 1, dtype=field.dtype, device=field.device)
    line = torch.exp(-offsets.square() / (2 * sigma_cells**2))
    line = line / line.sum()
    padded = F.pad(field, (radius, radius, radius, radius), mode="replicate")
    return F.conv2d(F.conv2d(padded, line.view(1, 1, -1, 1)), line.view(1, 1, 1, -1))


def depth_ramp(count: int, top_ms: float, bottom_ms: float, shape: tuple[int, int] = (70, 70)) -> torch.Tensor:
    """The classical smooth start: (count, 1, H, W) maps whose velocity grows linearly from top to bottom row."""
    column = torch.linspace(top_ms, bottom_ms, shape[0])
    return column.view(1, 1, -1, 1).expand(count, 1, *shape).contiguous()


def stage_of(iteration: int, settings: RefineSettings) -> float | None:
    """The cut-off (Hz; None: full band) of ``iteration`` (0-based): the budget is split evenly over the stages."""
    stages = len(settings.frequencies_hz)
    return settings.frequencies_hz[min(stages - 1, iteration * stages // settings.iterations)]


def refine(
    start: torch.Tensor,
    observed: torch.Tensor,
    settings: RefineSettings,
    on_iteration: IterationCallback | None = None,
) -> tuple[torch.Tensor, list[list[float]]]:
    """Refined maps (n, 1, 70, 70) in m/s from ``start`` against ``observed`` gathers (n, 5, T, 70).

    Returns the maps and the full-band relative misfit per sample before every update and after the
    last (iterations + 1 rows); ``on_iteration(k, velocity, misfit)`` sees the same maps and numbers,
    e.g. to score them against the truth.
    """
    observed = observed.to(start.device, torch.float32)
    velocity = start.detach().to(torch.float32).clamp(settings.vel_min, settings.vel_max).requires_grad_(True)
    optimizer = torch.optim.Adam([velocity], lr=settings.step_ms)
    history: list[list[float]] = []
    filtered: dict[float | None, torch.Tensor] = {}
    for iteration in range(settings.iterations + 1):
        last = iteration == settings.iterations
        with torch.set_grad_enabled(not last):
            simulated = simulate_shot_gathers(velocity, n_time=observed.shape[TIME_AXIS])
        misfit = relative_misfit(simulated.detach(), observed)
        history.append(misfit.tolist())
        if on_iteration is not None:
            on_iteration(iteration, velocity.detach(), misfit)
        if last:
            break
        cutoff = stage_of(iteration, settings)
        if cutoff not in filtered:
            filtered[cutoff] = lowpass(observed, cutoff)
        loss = relative_misfit(lowpass(simulated, cutoff), filtered[cutoff]).square().sum() / 2
        optimizer.zero_grad()
        loss.backward()
        velocity.grad = gaussian_smooth(velocity.grad, settings.smoothing_cells)
        optimizer.step()
        with torch.no_grad():
            velocity.clamp_(settings.vel_min, settings.vel_max)
    return velocity.detach(), history
