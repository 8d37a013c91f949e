"""What makes a refinement iteration cheaper changes the result within tolerance only: the gradient sampled every
k-th step against every step's, the descent on a shortened record against one on data cut by hand."""

import numpy as np
import pytest
import torch

from fwilab.data.synthetic.velocity import velocity_models
from fwilab.errors import ConfigError
from fwilab.physics.forward import simulate_shot_gathers, torch_threads
from fwilab.physics.misfit import TIME_AXIS, lowpass, relative_misfit
from fwilab.physics.refine import descent_record, gaussian_smooth, refine
from helpers import refine_settings

SHORT = 300  # time samples: the direct wave and the shallow reflections


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def true_model() -> torch.Tensor:
    return torch.from_numpy(velocity_models(np.random.default_rng(7), "curvefault_a", 1))


def misfit_gradient(
    start: torch.Tensor, observed: torch.Tensor, cutoff: float | None, n_time: int, interval: int
) -> torch.Tensor:
    velocity = start.clone().requires_grad_(True)
    simulated = simulate_shot_gathers(velocity, n_time=n_time, gradient_sampling_interval=interval)
    cut = observed.narrow(TIME_AXIS, 0, n_time)
    loss = relative_misfit(lowpass(simulated, cutoff), lowpass(cut, cutoff)).square().sum()
    return torch.autograd.grad(loss, velocity)[0]


@pytest.mark.parametrize("n_time, cutoff", [(1000, None), (800, 5.0)])
def test_the_gradient_sampled_every_tenth_step_matches_every_steps(true_model, n_time, cutoff):
    """Sampling the 15 Hz wavefields' correlation at 100 Hz instead of 1 kHz moves the gradient by < 0.1% (L2), on
    the whole record and on the descent's 0.8 s in the lowest band. (Not on a record cut while the waves still
    arrive: the residual's abrupt end is broadband, and its adjoint field aliases.)"""
    observed = simulate_shot_gathers(true_model)
    start = gaussian_smooth(true_model, 4.0)
    every_step = misfit_gradient(start, observed, cutoff, n_time, 1)
    sampled = misfit_gradient(start, observed, cutoff, n_time, 10)
    assert not torch.equal(sampled, every_step), "the interval reached deepwave"
    assert (sampled - every_step).norm() < 1e-3 * every_step.norm()


def test_the_forward_data_do_not_depend_on_the_gradient_sampling(true_model):
    velocity = true_model.clone().requires_grad_(True)
    sampled = simulate_shot_gathers(velocity, n_time=SHORT, gradient_sampling_interval=10)
    assert torch.equal(sampled.detach(), simulate_shot_gathers(true_model, n_time=SHORT))


def test_a_descent_on_a_shortened_record_is_the_descent_on_data_cut_by_hand(true_model):
    """record_s=0.2 on a 0.3 s record refines as if the observed data ended at 0.2 s; the first and last misfits are
    the whole record's, the ones between the descent's record's."""
    observed = simulate_shot_gathers(true_model, n_time=SHORT)
    start = gaussian_smooth(true_model, 4.0)
    shortened = refine_settings(iterations=4, frequencies_hz=(8.0, None), record_s=0.2)
    refined, history = refine(start, observed, shortened, (1500.0, 4500.0))
    cut = observed.narrow(TIME_AXIS, 0, 200)
    whole_record = refine_settings(iterations=4, frequencies_hz=(8.0, None), record_s=None)
    by_hand, history_by_hand = refine(start, cut, whole_record, (1500.0, 4500.0))
    assert torch.allclose(refined, by_hand, rtol=0, atol=1e-3)
    assert torch.tensor(history[1:-1]).allclose(torch.tensor(history_by_hand[1:-1]), rtol=1e-5, atol=0)
    for row, maps in ((history[0], start), (history[-1], refined)):
        whole = relative_misfit(simulate_shot_gathers(maps, n_time=SHORT), observed)
        assert row == pytest.approx(whole.tolist(), rel=1e-5)
    assert history[0][0] != pytest.approx(history_by_hand[0][0], rel=1e-3), "the late 0.1 s carries misfit"


@pytest.mark.parametrize(
    "record_s, interval, n_time, samples",
    [
        (0.8, 10, 1000, 800),
        (0.8, 10, SHORT, SHORT),
        (None, 5, 1000, 1000),
        (0.255, 10, 1000, 250),
        (0.001, 10, 1000, 10),
    ],
)
def test_the_descent_record_is_record_s_within_the_record_in_whole_sampling_intervals(
    record_s, interval, n_time, samples
):
    settings = refine_settings(iterations=1, record_s=record_s, gradient_sampling_interval=interval)
    assert descent_record(n_time, settings) == samples


@pytest.mark.parametrize(
    "change, match",
    [
        ({"gradient_sampling_interval": 0}, "gradient_sampling_interval=0 must be a whole number of time steps"),
        ({"gradient_sampling_interval": 11}, "gradient_sampling_interval=11 must be .* from 1 to 10"),
        ({"gradient_sampling_interval": 2.5}, "gradient_sampling_interval=2.5"),
        ({"record_s": -0.5}, "record_s=-0.5 must be a positive time"),
    ],
)
def test_cost_settings_out_of_range_are_refused_naming_the_key(change, match):
    with pytest.raises(ConfigError, match=match):
        refine_settings(iterations=10, **change)
