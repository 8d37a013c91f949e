"""Validation metrics in OpenFWI's conventions, accumulated over a whole split.

MAE and RMSE on normalized [-1, 1] maps (OpenFWI's tables) and in m/s; SSIM on maps rescaled to
[0, 1] with an 11 x 11 Gaussian window, sigma 1.5, computed by pytorch-msssim. pytorch-msssim
averages SSIM over the valid (un-padded) region; OpenFWI's pytorch_ssim zero-pads the borders,
which gives slightly different values near the map edges.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from pytorch_msssim import ssim


def ssim_per_sample(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM of each map pair, both (N, 1, H, W) in [0, 1]."""
    return ssim(prediction, target, data_range=1.0, size_average=False, win_size=11, win_sigma=1.5)


class MetricAccumulator:
    """Sums errors over batches; ``compute`` gives split-level MAE, RMSE (normalized and m/s) and SSIM."""

    def __init__(self, ms_per_unit: float):
        self.ms_per_unit = ms_per_unit
        self.abs_error = 0.0
        self.squared_error = 0.0
        self.ssim_sum = 0.0
        self.pixels = 0
        self.samples = 0

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of normalized maps (N, 1, 70, 70) in [-1, 1]."""
        prediction, target = prediction.float(), target.float()
        difference = prediction - target
        self.abs_error += difference.abs().sum().item()
        self.squared_error += difference.square().sum().item()
        self.ssim_sum += ssim_per_sample((prediction + 1) / 2, (target + 1) / 2).sum().item()
        self.pixels += difference.numel()
        self.samples += prediction.shape[0]

    def compute(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        """Split-level metrics; ``reduce`` sums the partial sums over data-parallel ranks first."""
        totals = torch.tensor([self.abs_error, self.squared_error, self.ssim_sum, self.pixels, self.samples], dtype=torch.float64)
        if reduce is not None:
            totals = reduce(totals)
        abs_error, squared_error, ssim_sum, pixels, samples = totals.tolist()
        mae = abs_error / pixels
        rmse = math.sqrt(squared_error / pixels)
        return {
            "mae": mae,
            "rmse": rmse,
            "ssim": ssim_sum / samples,
            "mae_ms": mae * self.ms_per_unit,
            "rmse_ms": rmse * self.ms_per_unit,
        }
