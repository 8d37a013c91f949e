"""Loss landscapes: filter-normalized directions, exact restore, and the shape of a known minimum."""

import numpy as np
import pytest
import torch
from torch import nn

from fwilab.diagnostics.loss_landscape import filter_normalized_direction, loss_at, loss_surface
from fwilab.models import ReconstructionNet


def test_directions_are_filter_normalized_and_skip_biases_and_batchnorm():
    torch.manual_seed(0)
    model = ReconstructionNet(base_channels=8)
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    for parameter, step in zip(model.parameters(), direction):
        assert step.shape == parameter.shape
        if parameter.dim() <= 1:
            assert torch.count_nonzero(step) == 0
        else:
            assert torch.allclose(step.flatten(1).norm(dim=1), parameter.detach().flatten(1).norm(dim=1), rtol=1e-5)
            assert not torch.allclose(step, parameter)
    again = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(direction, again))


@pytest.fixture()
def least_squares():
    """A linear model sitting exactly at its least-squares minimum: a convex quadratic loss bowl."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 6, generator=generator, dtype=torch.float64)
    target = inputs @ torch.randn(6, 2, generator=generator, dtype=torch.float64) + 0.1 * torch.randn(64, 2, generator=generator, dtype=torch.float64)
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
