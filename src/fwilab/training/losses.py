"""OpenFWI's velocity loss: a weighted sum of L1 and L2 on the normalized maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WeightedL1L2(nn.Module):
    """``lambda_g1v * L1 + lambda_g2v * MSE`` (OpenFWI's flags of the same names; both 1 by default)."""

    def __init__(self, lambda_g1v: float = 1.0, lambda_g2v: float = 1.0):
        super().__init__()
        self.lambda_g1v = lambda_g1v
        self.lambda_g2v = lambda_g2v

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.lambda_g1v * F.l1_loss(prediction, target) + self.lambda_g2v * F.mse_loss(prediction, target)
