"""The data loss of physics-driven training: its gradient through a network against finite differences, and what
each of its choices does, on short records (the first 200 ms: the direct wave and the shallow reflections)."""

import numpy as np
import pytest
import torch
from torch import nn

from fwilab.data.synthetic.velocity import velocity_models
from fwilab.physics.data_loss import SeismicDataLoss
from fwilab.physics.forward import simulate_shot_gathers, torch_threads
from fwilab.physics.misfit import lowpass, relative_misfit
from fwilab.physics.refine import gaussian_smooth

SHORT = 200
RANGE = (1500.0, 4500.0)


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def truth() -> torch.Tensor:
    return torch.from_numpy(velocity_models(np.random.default_rng(5), "curvefault_a", 1)).double()


def log_compress(gathers: torch.Tensor) -> torch.Tensor:
    return torch.sign(gathers) * torch.log1p(gathers.abs())


class TinyNetwork(nn.Module):
    """A 3x3 convolution of a fixed smooth input map, tanh-bounded as InversionNet's output: 10 weights."""

    def __init__(self, start: torch.Tensor):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="replicate", dtype=torch.float64)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0, 1, 1] = 1.0
            self.conv.bias.zero_()
        self.register_buffer("start", (start - 3000.0) / 1500.0)  # normalized to [-1, 1]

    def forward(self) -> torch.Tensor:
        return 3000.0 + 1500.0 * torch.tanh(self.conv(self.start))  # m/s


@pytest.mark.parametrize(
    "loss",
    [
        SeismicDataLoss(RANGE),
        SeismicDataLoss(RANGE, frequencies_hz=(8.0, None)),
        SeismicDataLoss(RANGE, misfit="l1_l2", compress=log_compress),
    ],
    ids=["relative", "relative_lowpass", "l1_l2_compressed"],
)
def test_the_loss_gradient_through_a_network_matches_finite_differences(truth, loss):
    """The directional derivative of the loss along a random direction of the weights, autograd against a central
    difference, in float64 (deepwave's adjoint through the clamp, the low-pass and the network)."""
    observed = simulate_shot_gathers(truth, n_time=SHORT)
    network = TinyNetwork(gaussian_smooth(truth, 3.0))
    cutoff = loss.band(1, 2)  # the first band: 8 Hz for the continuation, the full band otherwise
    loss.per_sample(network(), observed, cutoff).mean().backward()
    direction = [
        torch.randn(p.shape, generator=torch.Generator().manual_seed(k), dtype=torch.float64) * 1e-3
        for k, p in enumerate(network.parameters())
    ]
    analytic = sum((p.grad * d).sum() for p, d in zip(network.parameters(), direction)).item()

    def loss_at(h: float) -> float:
        with torch.no_grad():
            for p, d in zip(network.parameters(), direction):
                p.add_(h * d)
            value = loss.per_sample(network(), observed, cutoff).mean().item()
            for p, d in zip(network.parameters(), direction):
                p.sub_(h * d)
        return value

    h = 1.0
    numeric = (loss_at(h) - loss_at(-h)) / (2 * h)
    assert abs(analytic) > 1e-8
    assert analytic == pytest.approx(numeric, rel=1e-3)


def test_the_truth_has_zero_loss_and_the_map_is_clamped_to_the_range(truth):
    loss = SeismicDataLoss(RANGE)
    observed = simulate_shot_gathers(truth, n_time=SHORT)
    assert loss.per_sample(truth, observed, None).item() < 1e-20
    too_fast = torch.full_like(truth, 9000.0)  # unclamped, the operator would be unstable at its 1 ms step
    clamped = simulate_shot_gathers(torch.full_like(truth, RANGE[1]), n_time=SHORT)
    assert loss.per_sample(too_fast, observed, None).item() == pytest.approx(
        relative_misfit(clamped, observed).square().item()
    )


def test_the_continuation_compares_low_passed_gathers_then_the_full_band(truth):
    loss = SeismicDataLoss(RANGE, frequencies_hz=(5.0, 10.0, None))
    assert [loss.band(step, 6) for step in range(1, 7)] == [5.0, 5.0, 10.0, 10.0, None, None]
    observed = simulate_shot_gathers(truth, n_time=SHORT)
    start = gaussian_smooth(truth, 3.0)
    simulated = simulate_shot_gathers(start, n_time=SHORT)
    expected = relative_misfit(lowpass(simulated, 5.0), lowpass(observed, 5.0)).square()
    assert torch.allclose(loss.per_sample(start, observed, 5.0), expected)


def test_depth_scaling_multiplies_the_maps_gradient_by_depth_to_the_power(truth):
    observed = simulate_shot_gathers(truth, n_time=SHORT)
    start = gaussian_smooth(truth, 3.0)
    gradients = {}
    for power in (0.0, 1.5):
        velocity = start.clone().requires_grad_(True)
        SeismicDataLoss(RANGE, depth_scaling=power).per_sample(velocity, observed, None).sum().backward()
        gradients[power] = velocity.grad
    depth = (torch.arange(1, 71, dtype=torch.float64) / 70).view(-1, 1)
    assert torch.allclose(gradients[1.5], gradients[0.0] * depth**1.5)
    assert gradients[0.0].abs().max() > 0


def test_an_unknown_misfit_or_a_compressed_one_without_its_transform_is_refused():
    with pytest.raises(ValueError, match="misfit"):
        SeismicDataLoss(RANGE, misfit="l3")
    with pytest.raises(ValueError, match="compress"):
        SeismicDataLoss(RANGE, misfit="l1_l2")


def test_a_sampled_gradient_reaches_deepwave_and_stays_close_to_every_steps(truth):
    """The gradient summed every 2nd step (the largest interval up to 3 dividing the record) against every step's:
    not bitwise the same (the option reaches deepwave), within 1% (relative L2) on this short record."""
    observed = simulate_shot_gathers(truth, n_time=SHORT)
    start = gaussian_smooth(truth, 3.0)
    gradients = {}
    for interval in (1, 3):
        velocity = start.clone().requires_grad_(True)
        SeismicDataLoss(RANGE, gradient_sampling_interval=interval).per_sample(
            velocity, observed, None
        ).sum().backward()
        gradients[interval] = velocity.grad
    difference = (gradients[3] - gradients[1]).norm() / gradients[1].norm()
    assert 0 < difference < 1e-2
