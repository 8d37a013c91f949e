"""Numbers for a layer's representation: response statistics, effective rank and linear CKA.

A hooked layer's output on the probe batch, (K, C, H, W), is read as K·H·W examples of a
C-dimensional response (one row per sample and position; one column per channel). From all of it:

- ``mean`` and ``std`` of every response;
- ``negative_share``: responses below zero before the activation (LeakyReLU keeps the sign, so this
  is read off its output; after a ReLU it is the share of zeros), or ``saturated_share`` after a
  Tanh / Sigmoid: responses where the activation's gradient is under 2% of its peak (|y| >= 0.99
  after a Tanh; y <= 0.005 or >= 0.995 after a Sigmoid);
- ``constant_channel_share``: channels whose standard deviation over the probe is under 1% of the
  layer's root-mean-square channel standard deviation (dead or saturated filters);
- ``effective_rank``: the participation ratio (Σλ)² / Σλ² of the eigenvalues λ of the channel
  covariance, i.e. tr(Σ)² / ‖Σ‖²_F: 1 when one direction carries everything, C when all carry the same;
- ``cka_previous``: linear CKA (Kornblith et al. 2019) between the layer's responses now and at the
  previous snapshot, on the same examples: 1 while the representation only rotates or rescales, lower
  while the layer still learns.

The drift CKA and the histogram use a fixed, evenly spaced subset of up to ``CKA_ROWS`` examples
(every channel), kept on the CPU; the other numbers use every response. A layer with fewer than
``MIN_EXAMPLES`` examples (the 1 x 1 bottleneck of a 2-sample probe) gets neither an effective rank
nor a drift CKA: with n examples the centered responses have rank n - 1 at most, and with two the
CKA is 1 whatever the layer does.

Everything here is plain torch on tensors: no Hydra, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

CKA_ROWS = 2048  # examples kept per layer for the drift CKA: a fixed, evenly spaced subset of samples x positions
HISTOGRAM_BINS = 64
CONSTANT_CHANNEL_RATIO = 0.01
SATURATION_MARGIN = 0.01
MIN_EXAMPLES = 16  # fewer (a 1 x 1 bottleneck on a small probe): covariance and CKA say nothing, so none is reported


@dataclass
class LayerStatistics:
    """What one snapshot measured in one layer: scalars, and the rows the drift CKA and the histogram use."""

    scalars: dict[str, float]
    rows: torch.Tensor = field(repr=False)  # (examples, channels) float32 on the CPU

    def histogram(self) -> tuple[list[int], list[float]]:
        """Counts and bin edges of the kept rows' values (every channel at up to ``CKA_ROWS`` examples)."""
        low, high = float(self.rows.min()), float(self.rows.max())
        high = max(high, low + 1e-6)
        counts = torch.histc(self.rows, bins=HISTOGRAM_BINS, min=low, max=high)
        return [int(c) for c in counts.tolist()], torch.linspace(low, high, HISTOGRAM_BINS + 1).tolist()


def output_activation(module: nn.Module) -> str:
    """'leaky_relu', 'relu', 'tanh', 'sigmoid' or 'none': the last activation inside ``module`` (its output's kind)."""
    kinds = {nn.LeakyReLU: "leaky_relu", nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
    found = "none"
    for child in module.modules():
        for kind, name in kinds.items():
            if isinstance(child, kind):
                found = name
    return found


def participation_ratio(covariance: torch.Tensor) -> float:
    """(Σλ)² / Σλ² of a symmetric positive semi-definite matrix, without an eigendecomposition; 0 for a zero matrix."""
    squared_norm = covariance.double().square().sum()
    if squared_norm == 0:
        return 0.0
    return float(torch.trace(covariance.double()) ** 2 / squared_norm)


@torch.no_grad()
def layer_statistics(output: torch.Tensor, activation: str = "none") -> LayerStatistics:
    """Statistics of one layer's (K, C, H, W) or (K, C) output, computed where it lives (one pass of each kind)."""
    responses = output.detach().float().flatten(2) if output.dim() > 2 else output.detach().float()[..., None]
    samples, channels, positions = responses.shape
    count = samples * positions
    channel_mean = responses.mean(dim=(0, 2))
    centered = responses - channel_mean[None, :, None]
    covariance = torch.bmm(centered, centered.transpose(1, 2)).sum(dim=0) / max(count - 1, 1)
    channel_var = covariance.diagonal().clamp(min=0)
    channel_std = channel_var.sqrt()
    mean = channel_mean.mean()  # every channel has the same count
    total = count * channels
    pooled = (channel_var * (count - 1) + (channel_mean - mean).square() * count).sum() / max(total - 1, 1)
    scalars = {
        "mean": float(mean),
        "std": float(pooled.sqrt()),
        "constant_channel_share": float(
            (channel_std <= CONSTANT_CHANNEL_RATIO * channel_std.square().mean().sqrt()).float().mean()
        ),
    }
    if count >= MIN_EXAMPLES:
        scalars["effective_rank"] = participation_ratio(covariance)
    if activation in ("tanh", "sigmoid"):
        low, high = (-1.0, 1.0) if activation == "tanh" else (0.0, 1.0)
        margin = SATURATION_MARGIN * (high - low) / 2
        saturated = torch.count_nonzero(responses <= low + margin) + torch.count_nonzero(responses >= high - margin)
        scalars["saturated_share"] = float(saturated) / total
    else:
        scalars["negative_share"] = (
            float(torch.count_nonzero(responses <= 0 if activation == "relu" else responses < 0)) / total
        )
    keep = torch.linspace(0, count - 1, min(count, CKA_ROWS), device=responses.device).round().long()
    rows = responses[keep // positions, :, keep % positions]  # (kept, C): one row per sample and position
    return LayerStatistics(scalars=scalars, rows=rows.cpu())


def cka_from_grams(gram_x: torch.Tensor, gram_y: torch.Tensor) -> float:
    """Linear CKA from two (n, n) Gram matrices of the same n examples: ⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖)."""
    centered_x, centered_y = _double_centered(gram_x), _double_centered(gram_y)
    denominator = torch.sqrt(centered_x.square().sum() * centered_y.square().sum())
    return float((centered_x * centered_y).sum() / denominator) if denominator > 0 else float("nan")


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between (n, p) and (n, q) responses of the same n examples; NaN when either is constant.

    Computed in feature space, ‖YᵀX‖² / (‖XᵀX‖ ‖YᵀY‖) after centering, when p·q is the smaller
    side, otherwise through the (n, n) Gram matrices; the two are equal.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"linear CKA compares the same examples: {x.shape[0]} rows against {y.shape[0]}")
    x, y = x.double().flatten(1), y.double().flatten(1)
    if x.shape[1] * y.shape[1] > x.shape[0] ** 2:
        return cka_from_grams(x @ x.T, y @ y.T)
    x, y = x - x.mean(dim=0), y - y.mean(dim=0)
    denominator = torch.sqrt((x.T @ x).square().sum() * (y.T @ y).square().sum())
    return float((y.T @ x).square().sum() / denominator) if denominator > 0 else float("nan")


def _double_centered(gram: torch.Tensor) -> torch.Tensor:
    gram = gram.double()
    return gram - gram.mean(dim=0, keepdim=True) - gram.mean(dim=1, keepdim=True) + gram.mean()
