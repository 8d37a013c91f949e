"""Loss surfaces around trained weights along filter-normalized random directions (Li et al., 2018).

A direction has the shape of the weights; each filter of it (each output channel's slice of a conv,
transposed-conv or linear weight; transposed convolutions keep output channels on dimension 1) is
rescaled to the norm of the corresponding weight filter, so that a step of 1
changes every filter by its own size and surfaces of differently scaled networks compare.
Following the paper, biases and BatchNorm parameters get a zero direction. The loss is the
training loss on a fixed validation subset, with the model in eval mode (BatchNorm running
statistics), so every point of the surface sees the same data and the same normalization.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from fwilab.plotting import figure_to_rgb
from fwilab.progress import Progress

log = logging.getLogger(__name__)


def output_dimension(model: nn.Module) -> dict[nn.Parameter, int]:
    """For every weight, the dimension that indexes its output filters: 1 for transposed convolutions, else 0."""
    return {
        module.weight: 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0
        for module in model.modules()
        if isinstance(getattr(module, "weight", None), nn.Parameter)
    }


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> list[torch.Tensor]:
    """A random direction per parameter, normalized per output filter; zero for biases and normalization parameters."""
    filter_dims = output_dimension(model)
    direction = []
    for parameter in model.parameters():
        if parameter.dim() <= 1:
            direction.append(torch.zeros_like(parameter))
            continue
        random = torch.randn(parameter.shape, generator=generator).to(parameter)
        dim = filter_dims.get(parameter, 0)
        weight, noise = parameter.detach().movedim(dim, 0), random.movedim(dim, 0)
        scale = weight.flatten(1).norm(dim=1) / noise.flatten(1).norm(dim=1).clamp_min(1e-12)
        direction.append((noise * scale.view((-1,) + (1,) * (parameter.dim() - 1))).movedim(0, dim))
    return direction


@torch.no_grad()
def loss_at(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], criterion: nn.Module) -> float:
    """Mean loss over the fixed batches (weighted by batch size)."""
    total, count = 0.0, 0
    for inputs, target in batches:
        total += criterion(model(inputs), target).item() * len(inputs)
        count += len(inputs)
    return total / count


@torch.no_grad()
def loss_surface(
    model: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    criterion: nn.Module,
    directions: list[list[torch.Tensor]],
    coordinates: list[np.ndarray],
) -> np.ndarray:
    """Loss at w + sum_i c_i d_i for every point of the grid spanned by ``coordinates`` (one axis per direction).

    The weights are restored exactly afterwards.
    """
    parameters = list(model.parameters())
    origin = [p.detach().clone() for p in parameters]
    grid = np.meshgrid(*coordinates, indexing="ij")
    surface = np.empty(grid[0].shape)
    model.eval()
    try:
        with Progress(surface.size, f"{len(directions)}-D loss surface", unit="points") as progress:
            for index in np.ndindex(surface.shape):
                for k, parameter in enumerate(parameters):
                    parameter.copy_(origin[k])
                    for axis, direction in enumerate(directions):
                        parameter.add_(direction[k], alpha=float(grid[axis][index]))
                surface[index] = loss_at(model, batches, criterion)
                progress.update()
    finally:
        for parameter, value in zip(parameters, origin):
            parameter.copy_(value)
    return surface


def plot_line(alphas: np.ndarray, losses: np.ndarray, title: str) -> np.ndarray:
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.plot(alphas, losses, marker="o")
    axes.axvline(0.0, color="gray", linestyle="--", linewidth=0.8)
    axes.set_xlabel("step along the filter-normalized direction")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure_to_rgb(figure)


def plot_contour(alphas: np.ndarray, betas: np.ndarray, surface: np.ndarray, title: str) -> np.ndarray:
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    levels = np.geomspace(max(surface.min(), 1e-6), surface.max(), 20) if surface.max() > surface.min() > 0 else 20
    contour = axes.contourf(alphas, betas, surface.T, levels=levels, cmap="viridis")
    axes.contour(alphas, betas, surface.T, levels=levels, colors="white", linewidths=0.4)
    axes.plot([0], [0], marker="*", color="red", markersize=12)
    figure.colorbar(contour, ax=axes, label="loss")
    axes.set_xlabel("direction 1")
    axes.set_ylabel("direction 2")
    axes.set_title(title)
    figure.tight_layout()
    return figure_to_rgb(figure)
