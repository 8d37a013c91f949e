"""The normalized 1-D Gaussian that OpenFWI's SSIM window and the refinement's gradient smoothing are built from."""

from __future__ import annotations

import torch


def gaussian_line(
    sigma: float, radius: int, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """exp(-x² / 2σ²) at x = -radius .. radius, summing to 1: (2 * radius + 1,)."""
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    line = torch.exp(-offsets.square() / (2 * sigma**2))
    return line / line.sum()
