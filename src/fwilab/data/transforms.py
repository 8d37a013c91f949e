"""OpenFWI's input and label transforms, applied to whole batches on the training device.

Seismic: ``sign(x) * log1p(|x|)``, then min-max to [-1, 1] using the log-transformed bounds of
the data set (data_min, data_max). Velocity: min-max from [vel_min, vel_max] m/s to [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fwilab.data_contract import VELOCITY_RANGE


def log_transform(x: torch.Tensor) -> torch.Tensor:
    """OpenFWI's amplitude compression: sign(x) * log(1 + |x|)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def _log_scalar(value: float) -> float:
    return math.copysign(math.log1p(abs(value)), value)


@dataclass(frozen=True)
class Normalizer:
    """Maps raw seismic and velocity to the network's [-1, 1] range and predictions back to m/s."""

    data_min: float
    data_max: float
    vel_min: float = VELOCITY_RANGE[0]
    vel_max: float = VELOCITY_RANGE[1]

    def seismic(self, x: torch.Tensor) -> torch.Tensor:
        low, high = _log_scalar(self.data_min), _log_scalar(self.data_max)
        return (log_transform(x) - low) / (high - low) * 2.0 - 1.0

    def velocity(self, v: torch.Tensor) -> torch.Tensor:
        return (v - self.vel_min) / (self.vel_max - self.vel_min) * 2.0 - 1.0

    def velocity_to_ms(self, v: torch.Tensor) -> torch.Tensor:
        return (v + 1.0) / 2.0 * (self.vel_max - self.vel_min) + self.vel_min

    @property
    def ms_per_unit(self) -> float:
        """m/s per unit of normalized velocity: converts MAE/RMSE on [-1, 1] maps to m/s."""
        return (self.vel_max - self.vel_min) / 2.0
