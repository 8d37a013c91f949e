"""Validation metrics in OpenFWI's conventions (its ``test.py`` and ``pytorch_ssim``), over a whole split.

MAE, MSE and RMSE are taken on velocity normalized to [-1, 1], the numbers of OpenFWI's tables
(also given in m/s). SSIM is OpenFWI's: maps rescaled to [0, 1] with ``x / 2 + 0.5``, local
statistics from an 11 x 11 Gaussian window (sigma 1.5) convolved with zero padding, C1 = 0.01²,
C2 = 0.03², and the SSIM map averaged over every pixel of every sample. (pytorch-msssim or
scikit-image average over the un-padded region only and give lower values for the same maps.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from fwilab.gaussian import gaussian_line

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The (1, 1, size, size) normalized Gaussian window of OpenFWI's ``pytorch_ssim``."""
    line = gaussian_line(sigma, size // 2)
    return torch.outer(line, line)[None, None]


def ssim_per_sample(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """OpenFWI's SSIM of each map pair, both (N, 1, H, W) in [0, 1], computed in float64."""
    x, y = prediction.double(), target.double()
    window = gaussian_window().to(x.device)

    def local_mean(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, window, padding=SSIM_WINDOW // 2)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x.square()
    var_y = local_mean(y * y) - mu_y.square()
    covariance = local_mean(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + SSIM_C1) * (2 * covariance + SSIM_C2)) / (
        (mu_x.square() + mu_y.square() + SSIM_C1) * (var_x + var_y + SSIM_C2)
    )
    return ssim_map.flatten(1).mean(dim=1)


def normalized_ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """OpenFWI's SSIM of each pair of normalized maps (N, 1, H, W) in [-1, 1]: rescaled to [0, 1] first."""
    return ssim_per_sample(prediction / 2 + 0.5, target / 2 + 0.5)


def per_sample_scores(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each sample's MAE, MSE and SSIM (n,) in float64, of normalized maps (n, 1, H, W) in [-1, 1]: the one
    definition the split-level metrics sum and the refinement tracks per iteration."""
    difference = (prediction.double() - target.double()).flatten(1)
    return {
        "mae": difference.abs().mean(dim=1),
        "mse": difference.square().mean(dim=1),
        "ssim": normalized_ssim(prediction, target),
    }


class MetricAccumulator:
    """Sums errors over batches; ``compute`` gives split-level MAE, MSE, RMSE (normalized and m/s) and SSIM."""

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
        scores = per_sample_scores(prediction, target)
        pixels_per_sample = prediction[0].numel()
        self.abs_error += scores["mae"].sum().item() * pixels_per_sample
        self.squared_error += scores["mse"].sum().item() * pixels_per_sample
        self.ssim_sum += scores["ssim"].sum().item()
        self.pixels += prediction.numel()
        self.samples += prediction.shape[0]

    def compute(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        """Split-level metrics; ``reduce`` sums the partial sums over data-parallel ranks first."""
        totals = torch.tensor(
            [self.abs_error, self.squared_error, self.ssim_sum, self.pixels, self.samples], dtype=torch.float64
        )
        if reduce is not None:
            totals = reduce(totals)
        abs_error, squared_error, ssim_sum, pixels, samples = totals.tolist()
        mae = abs_error / pixels
        mse = squared_error / pixels
        rmse = math.sqrt(mse)
        return {
            "mae": mae,
            "mse": mse,
            "rmse": rmse,
            "ssim": ssim_sum / samples,
            "mae_ms": mae * self.ms_per_unit,
            "rmse_ms": rmse * self.ms_per_unit,
        }
