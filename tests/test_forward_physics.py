"""The deepwave forward model: arrival times, symmetry, finiteness and OpenFWI's amplitude convention."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import CONF
from fwilab.data.synthetic.forward import PEAK_TIME_S, simulate_shot_gathers
from fwilab.data.synthetic.velocity import velocity_models

CENTRE_SOURCE = 2  # x = 34


@pytest.fixture(scope="module")
def homogeneous_gathers() -> np.ndarray:
    return simulate_shot_gathers(torch.full((1, 1, 70, 70), 2000.0))[0].numpy()


def test_shapes_dtype_and_finite(homogeneous_gathers):
    assert homogeneous_gathers.shape == (5, 1000, 70)
    assert homogeneous_gathers.dtype == np.float32
    assert np.isfinite(homogeneous_gathers).all()


def test_direct_wave_moveout_matches_top_layer_velocity():
    """Direct-wave peaks move out by offset / v: 2500 m/s top layer, fast layer well below."""
    model = torch.full((1, 1, 70, 70), 2500.0)
    model[..., 45:, :] = 4000.0
    gather = simulate_shot_gathers(model)[0, 0].numpy()  # source at x = 0
    zero_offset_peak = gather[:, 0].argmax()
    assert abs(zero_offset_peak - PEAK_TIME_S * 1000) <= 8  # Ricker peak plus the 2-D Green's function lag
    for receiver in (10, 20, 30):
        expected = receiver * 10.0 / 2500.0 * 1000.0  # ms = samples
        assert abs((gather[:, receiver].argmax() - zero_offset_peak) - expected) <= 3


def test_centre_source_gather_is_left_right_symmetric(homogeneous_gathers):
    gather = homogeneous_gathers[CENTRE_SOURCE]
    offsets = np.arange(1, 35)
    left, right = gather[:, 34 - offsets], gather[:, 34 + offsets]
    assert np.abs(left - right).max() <= 1e-3 * np.abs(gather).max()
    assert np.abs(gather[:, 0] - gather[:, 69]).max() > 0  # the array is not trivially flat


def test_reflection_arrives_after_direct_wave():
    """A strong interface 300 m down reflects energy at the two-way time at zero offset."""
    flat = torch.full((1, 1, 70, 70), 2000.0)
    layered = flat.clone()
    layered[..., 31:, :] = 4000.0
    difference = (simulate_shot_gathers(layered) - simulate_shot_gathers(flat))[0, CENTRE_SOURCE, :, 34].numpy()
    two_way = 2 * 300.0 / 2000.0 * 1000.0 + PEAK_TIME_S * 1000
    assert abs(np.abs(difference).argmax() - two_way) <= 15


@pytest.mark.parametrize("family", ["curvefault_a", "flatvel_a", "flatfault_b", "curvevel_b"])
def test_amplitudes_follow_openfwi_polarity_and_published_range(family):
    published = OmegaConf.load(CONF / "data" / f"{family}.yaml")
    velocity = torch.from_numpy(velocity_models(np.random.default_rng(11), family, 24))
    seismic = simulate_shot_gathers(velocity).numpy()
    assert seismic.max() > 1.6 * abs(seismic.min())  # largest excursion positive, about twice the negative
    assert seismic.max() == pytest.approx(published.data_max, rel=0.15)
    assert seismic.min() == pytest.approx(published.data_min, rel=0.15)


def test_batch_composition_does_not_change_a_models_data():
    models = torch.from_numpy(velocity_models(np.random.default_rng(5), "curvefault_a", 3))
    alone = simulate_shot_gathers(models[:1])
    together = simulate_shot_gathers(models)[:1]
    assert torch.equal(alone, together)
