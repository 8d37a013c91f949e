"""The data misfit of velocity maps: re-simulate them with fwilab's forward operator, compare with observed gathers.

The relative L2 misfit of a sample is ||d(v) - d_obs|| / ||d_obs|| over its five shot gathers: 0 when the
map explains the recorded waves, about 1 when its waves miss them entirely, above 1 when they arrive
where the observed ones do not. Re-simulating the true map of a set that fwilab generated gives the
operator's floor (0 up to float32 rounding); data simulated by another code has a floor of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from fwilab.errors import ConfigError
from fwilab.physics.forward import DT_S, MAX_VELOCITY, simulate_models

TIME_AXIS = -2  # gathers are (n, shots, time, receivers)


def check_velocity_range(vel_min: float, vel_max: float) -> None:
    """Refuse a velocity range the forward operator cannot step stably (its time step is set for MAX_VELOCITY)."""
    if not 0 < vel_min < vel_max <= MAX_VELOCITY:
        raise ConfigError(
            f"velocity range {vel_min:g}..{vel_max:g} m/s: the forward operator steps stably only for "
            f"0 < vel_min < vel_max <= {MAX_VELOCITY:g} m/s (its 1 ms step is set for {MAX_VELOCITY:g} m/s)"
        )


def relative_misfit(simulated: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Per sample ||simulated - observed|| / ||observed|| over all its gathers: (n,) from two (n, ...) tensors."""
    residual = (simulated - observed).flatten(1).norm(dim=1)
    return residual / observed.flatten(1).norm(dim=1).clamp_min(torch.finfo(observed.dtype).tiny)


def resimulated_misfit(
    velocity: torch.Tensor, observed: torch.Tensor, batch_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gathers of maps (n, 1, 70, 70) in m/s simulated as the generator does (``simulate_models``), and their relative
    misfit (n,) against ``observed``: scoring, not refinement (no gradient)."""
    simulated = torch.from_numpy(simulate_models(velocity.numpy(), batch_size, device))
    return simulated, relative_misfit(simulated, observed)


def lowpass(gathers: torch.Tensor, cutoff_hz: float | None, dt_s: float = DT_S) -> torch.Tensor:
    """Zero-phase low-pass of gathers along time: gain 1 up to ``cutoff_hz``, a cosine taper to 0 at 1.5 x cutoff.

    Differentiable (an FFT, a real taper, an inverse FFT), so simulated data can be filtered inside
    the misfit; the record is zero-padded to twice its length so the filter does not wrap around.
    ``None`` passes the full band.
    """
    if cutoff_hz is None:
        return gathers
    n_time = gathers.shape[TIME_AXIS]
    spectrum = torch.fft.rfft(gathers, n=2 * n_time, dim=TIME_AXIS)
    frequencies = torch.fft.rfftfreq(2 * n_time, d=dt_s, device=gathers.device, dtype=gathers.dtype)
    ramp = ((frequencies - cutoff_hz) / (0.5 * cutoff_hz)).clamp(0.0, 1.0)
    gain = torch.cos(ramp * math.pi / 2).square()
    filtered = torch.fft.irfft(spectrum * gain[:, None], n=2 * n_time, dim=TIME_AXIS)
    return filtered.narrow(TIME_AXIS, 0, n_time)


def continuation_band(frequencies_hz: Sequence[float | None], done: int, total: int) -> float | None:
    """Frequency continuation: the cut-off (Hz; None: full band) after ``done`` of ``total`` updates of a descent
    whose budget is split evenly over the bands, lowest first."""
    stages = len(frequencies_hz)
    return frequencies_hz[min(stages - 1, done * stages // max(1, total))]


def misfit_summary(prefix: str, misfit: torch.Tensor) -> dict[str, float]:
    """``{prefix}_mean`` and ``{prefix}_median`` of per-sample misfits."""
    return {f"{prefix}_mean": misfit.mean().item(), f"{prefix}_median": misfit.median().item()}
