"""Loss landscapes: filter-normalized directions, exact restore, and the shape of a known minimum."""

import numpy as np
import pytest
import torch
from torch import nn

from fwilab.diagnostics.loss_landscape import filter_normalized_direction, loss_at, loss_surface
from fwilab.models import ReconstructionNet


def _output_filters(module: nn.Module) -> list[torch.Tensor]:
    """Each output channel's weights, written out per layer type: Conv2d (out, in, kh, kw), ConvTranspose2d (in, out, kh, kw)."""
    weight = module.weight.detach()
    if isinstance(module, nn.ConvTranspose2d):
        return [weight[:, o] for o in range(module.out_channels)]
    return [weight[o] for o in range(module.out_channels if isinstance(module, nn.Conv2d) else module.out_features)]


def test_directions_are_normalized_per_output_filter_for_convs_and_transposed_convs():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.ConvTranspose2d(5, 2, 4, stride=2), nn.Conv2d(2, 7, 1)
    )
    direction = dict(
        zip([id(p) for p in model.parameters()], filter_normalized_direction(model, torch.Generator().manual_seed(1)))
    )
    for layer in (model[0], model[2], model[3]):
        step = direction[id(layer.weight)]
        assert step.shape == layer.weight.shape and not torch.allclose(step, layer.weight)
        shifted = type(layer)(
            **{k: getattr(layer, k) for k in ("in_channels", "out_channels", "kernel_size", "stride")}
        )
        with torch.no_grad():
            shifted.weight.copy_(step)
        for weight_filter, step_filter in zip(_output_filters(layer), _output_filters(shifted)):
            assert step_filter.norm().item() == pytest.approx(weight_filter.norm().item(), rel=1e-5)
    assert all(
        torch.count_nonzero(direction[id(p)]) == 0
        for p in (model[0].bias, model[1].weight, model[1].bias, model[2].bias)
    )


def test_directions_are_reproducible_for_a_real_model():
    model = ReconstructionNet(base_channels=8)
    first = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    again = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(first, again))


@pytest.fixture()
def least_squares():
    """A linear model sitting exactly at its least-squares minimum: a convex quadratic loss bowl."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 6, generator=generator, dtype=torch.float64)
    target = inputs @ torch.randn(6, 2, generator=generator, dtype=torch.float64) + 0.1 * torch.randn(
        64, 2, generator=generator, dtype=torch.float64
    )
    model = nn.Linear(6, 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(inputs, target).solution.T)
    return model, [(inputs[:32], target[:32]), (inputs[32:], target[32:])]


def test_surface_has_its_minimum_at_the_trained_weights(least_squares):
    model, batches = least_squares
    criterion = nn.MSELoss()
    before = model.weight.detach().clone()
    base = loss_at(model, batches, criterion)
    directions = [filter_normalized_direction(model, torch.Generator().manual_seed(s)) for s in (1, 2)]
    alphas = np.linspace(-1, 1, 11)
    line = loss_surface(model, batches, criterion, directions[:1], [alphas])
    assert torch.equal(model.weight, before)
    assert line[5] == pytest.approx(base) and line.argmin() == 5
    assert np.allclose(line, line[::-1], rtol=1e-9)  # a quadratic bowl is symmetric about its minimum
    grid = np.linspace(-1, 1, 5)
    surface = loss_surface(model, batches, criterion, directions, [grid, grid])
    assert surface.shape == (5, 5) and np.unravel_index(surface.argmin(), surface.shape) == (2, 2)
    assert surface[2, 2] == pytest.approx(base) and (surface >= base - 1e-12).all()
