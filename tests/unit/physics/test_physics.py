"""Physics in the loop: the data misfit, its gradient, the low-pass filter and refinement, on small CPU sizes."""

import math

import numpy as np
import pytest
import torch

from fwilab.data.openfwi import OpenFWIDataset, read_split_file
from fwilab.data.synthetic.velocity import velocity_models
from fwilab.errors import ConfigError
from fwilab.physics.forward import simulate_shot_gathers, torch_threads
from fwilab.physics.misfit import TIME_AXIS, check_velocity_range, lowpass, relative_misfit
from fwilab.physics.refine import (
    depth_ramp,
    descent_direction,
    gaussian_smooth,
    refine,
    stage_of,
    step_at,
)
from helpers import refine_settings

SHORT = 300  # time samples: the direct wave and the shallow reflections, at a third of the cost


@pytest.fixture(autouse=True)
def one_thread():
    """deepwave on one thread, as the refine task runs it per core: its per-step barriers crawl on busy cores."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def true_model() -> torch.Tensor:
    return torch.from_numpy(velocity_models(np.random.default_rng(5), "curvefault_a", 1))


def test_a_short_record_is_the_start_of_the_full_one(true_model):
    full = simulate_shot_gathers(true_model)
    short = simulate_shot_gathers(true_model, n_time=SHORT)
    assert full.shape == (1, 5, 1000, 70) and short.shape == (1, 5, SHORT, 70)
    assert torch.allclose(short, full[:, :, :SHORT], rtol=0, atol=1e-5 * full.abs().max())


def data_misfit(velocity: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """The full-band misfit refinement descends: maps simulated as long as the observed record, compared with it."""
    return relative_misfit(simulate_shot_gathers(velocity, n_time=observed.shape[TIME_AXIS]), observed)


def test_misfit_gradient_matches_finite_differences(true_model):
    """The directional derivative of deepwave's gradient against a central difference, in float64."""
    truth = true_model.double()
    observed = simulate_shot_gathers(truth, n_time=200)
    start = gaussian_smooth(truth, 3.0)  # a blurred map: misfit well above 0, smooth in the velocity
    bump = torch.zeros_like(truth)
    bump[..., 5:20, 25:45] = 10.0
    direction = gaussian_smooth(bump, 2.0)  # a smooth shallow anomaly of up to 10 m/s

    velocity = start.clone().requires_grad_(True)
    data_misfit(velocity, observed).sum().backward()
    analytic = (velocity.grad * direction).sum().item()
    h = 0.1  # 1 m/s at most: the central difference's O(h^2) error is 1e-6 of the derivative here
    plus = data_misfit(start + h * direction, observed).item()
    minus = data_misfit(start - h * direction, observed).item()
    numeric = (plus - minus) / (2 * h)
    assert abs(analytic) > 1e-5
    assert analytic == pytest.approx(numeric, rel=1e-4)


def test_true_maps_of_a_generated_set_resimulate_at_the_floor(tiny_dataset):
    dataset = OpenFWIDataset(read_split_file(tiny_dataset / "val.txt", tiny_dataset))
    items = [dataset[i] for i in range(3)]
    seismic = torch.stack([s for s, _ in items])
    velocity = torch.stack([v for _, v in items])
    floor = data_misfit(velocity, seismic)
    assert floor.shape == (3,) and floor.max().item() < 1e-5
    shifted = data_misfit(velocity * 0.95, seismic)  # 5% slower everywhere: arrivals late, clearly off
    assert shifted.min().item() > 0.1


def test_relative_misfit_is_one_for_silence_and_scales_with_the_residual():
    observed = torch.randn(3, 5, 50, 70, generator=torch.Generator().manual_seed(1))
    assert relative_misfit(torch.zeros_like(observed), observed).tolist() == pytest.approx([1.0] * 3)
    assert relative_misfit(1.1 * observed, observed).tolist() == pytest.approx([0.1] * 3, rel=1e-5)


def test_lowpass_keeps_low_and_removes_high_frequencies():
    t = torch.arange(1000, dtype=torch.float64) * 1e-3
    low = torch.sin(2 * math.pi * 3.0 * t)
    high = torch.sin(2 * math.pi * 30.0 * t)
    gathers = (low + high).view(1, 1, -1, 1).expand(1, 5, 1000, 70)
    filtered = lowpass(gathers, 8.0)[0, 0, :, 0]
    middle = slice(200, 800)  # away from the ends of the finite record
    assert torch.allclose(filtered[middle], low[middle], atol=0.02)
    assert lowpass(gathers, None) is gathers


@pytest.mark.parametrize("vel_range", [(1500.0, 5000.0), (0.0, 4500.0), (3000.0, 2000.0)])
def test_a_range_the_operator_cannot_step_is_refused(vel_range):
    with pytest.raises(ConfigError, match="steps stably"):
        check_velocity_range(*vel_range)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"iterations": 0}, "iterations=0"),
        ({"step_ms": 0.0}, "step_ms"),
        ({"depth_scaling": -1.0}, "depth_scaling"),
        ({"frequencies_hz": (10.0, 5.0)}, "low to high"),
        ({"frequencies_hz": (None, 5.0)}, "full band"),
    ],
)
def test_bad_settings_are_refused(change, match):
    with pytest.raises(ConfigError, match=match):
        refine_settings(**{"iterations": 10, **change})


def test_a_velocity_range_the_operator_cannot_step_is_refused_before_refining():
    maps = torch.full((1, 1, 70, 70), 3000.0)
    with pytest.raises(ConfigError, match="steps stably"):
        refine(maps, torch.zeros(1, 5, SHORT, 70), refine_settings(iterations=10), (1500.0, 6000.0))


def test_refinement_of_a_perturbed_true_model_lowers_misfit_and_velocity_error(true_model):
    """A blurred true map (what a network's prediction looks like) moves towards the truth, not only the data fit."""
    observed = simulate_shot_gathers(true_model, n_time=SHORT)
    start = gaussian_smooth(true_model, 4.0)
    seen = []
    settings = refine_settings(iterations=8, frequencies_hz=(8.0, None))
    refined, history = refine(start, observed, settings, (1500.0, 4500.0), lambda k, v, m: seen.append(k))
    assert len(history) == 9 and seen == list(range(9))
    assert history[-1][0] < 0.5 * history[0][0]
    assert (refined - true_model).abs().mean() < 0.9 * (start - true_model).abs().mean()
    assert refined.min() >= 1500.0 and refined.max() <= 4500.0


def test_a_stop_request_ends_the_descent_after_the_iteration_it_arrives_in(true_model):
    start = gaussian_smooth(true_model, 3.0)
    observed = simulate_shot_gathers(true_model, n_time=SHORT)
    seen: list[int] = []
    refined, history = refine(
        start,
        observed,
        refine_settings(iterations=50),
        (1500.0, 4500.0),
        lambda k, v, m: seen.append(k),
        stop=lambda: len(seen) == 3,
    )
    assert seen == [0, 1, 2] and len(history) == 3  # two updates, then the misfit of the maps it returns
    assert history[-1] == pytest.approx(
        relative_misfit(simulate_shot_gathers(refined, n_time=SHORT), observed).tolist(), rel=1e-5
    )


def test_each_sample_moves_its_largest_cell_by_the_step_whatever_its_gradient_scale():
    """Gradients 1e-9 and 1e3 in scale both move their largest cell step_ms m/s; a uniform gradient moves the deep
    rows more (depth scaling), the bottom row by the step, the top row by a seventieth of it."""
    settings = refine_settings(iterations=1, smoothing_cells=0.0, depth_scaling=1.0)
    gradient = torch.ones(2, 1, 70, 70)
    gradient[0] *= 1e-9
    gradient[1] *= -1e3
    update = descent_direction(gradient, settings, 40.0)
    assert update.flatten(1).abs().amax(dim=1).tolist() == pytest.approx([40.0, 40.0])
    assert update[0, 0, -1, 0].item() == pytest.approx(40.0) and update[0, 0, 0, 0].item() == pytest.approx(40.0 / 70)
    assert (update[1] < 0).all(), "the update follows the gradient's sign (the task subtracts it)"
    flat = descent_direction(gradient, refine_settings(iterations=1, depth_scaling=0.0), 40.0)
    assert flat[0].flatten().tolist() == pytest.approx([40.0] * 4900)


def test_the_step_decays_from_step_ms_to_a_tenth_of_it_at_the_last_iteration():
    settings = refine_settings(iterations=50, step_ms=150.0)
    steps = [step_at(k, settings) for k in range(50)]
    assert steps[0] == pytest.approx(150.0) and steps[-1] == pytest.approx(15.0)
    assert all(later < earlier for earlier, later in zip(steps, steps[1:]))
    assert steps[24] == pytest.approx(15.0 + 135.0 * (1 + math.cos(math.pi * 24 / 49)) / 2)


def test_depth_ramp_grows_linearly_with_depth():
    ramp = depth_ramp(2, 1900.0, 4000.0)
    assert ramp.shape == (2, 1, 70, 70)
    assert ramp[0, 0, 0].tolist() == [1900.0] * 70 and ramp[1, 0, -1, 5].item() == pytest.approx(4000.0)
    assert (ramp[0, 0, 1:, 0] > ramp[0, 0, :-1, 0]).all()


def test_the_iterations_are_split_evenly_over_the_frequency_stages():
    settings = refine_settings(iterations=7, frequencies_hz=(5.0, 10.0, None))
    assert [stage_of(k, settings) for k in range(7)] == [5.0, 5.0, 5.0, 10.0, 10.0, None, None]


def test_propagation_runs_on_the_cpu_for_a_model_on_apples_gpu():
    from fwilab.physics.forward import propagation_device

    assert propagation_device(torch.device("mps")) == torch.device("cpu")  # deepwave has no mps kernels
    assert propagation_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert propagation_device(torch.device("cpu")) == torch.device("cpu")
