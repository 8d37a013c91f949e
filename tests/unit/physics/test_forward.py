"""The deepwave forward model: arrival times, symmetry, finiteness and OpenFWI's amplitude convention."""

import numpy as np
import pytest
import torch

from fwilab.data.synthetic.velocity import velocity_models
from fwilab.data_contract import PUBLISHED_SEISMIC_RANGE
from fwilab.physics.forward import PEAK_TIME_S, SOURCE_DEPTH_CELLS, on_each_core, simulate_shot_gathers

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
    """A strong interface at row 31 (310 m) reflects energy at the two-way time at zero offset."""
    flat = torch.full((1, 1, 70, 70), 2000.0)
    layered = flat.clone()
    layered[..., 31:, :] = 4000.0
    difference = (simulate_shot_gathers(layered) - simulate_shot_gathers(flat))[0, CENTRE_SOURCE, :, 34].numpy()
    two_way = 2 * (310.0 - 10.0 * SOURCE_DEPTH_CELLS) / 2000.0 * 1000.0 + PEAK_TIME_S * 1000
    assert abs(np.abs(difference).argmax() - two_way) <= 4  # a receiver 10 m off in depth would be 10 ms off


@pytest.mark.parametrize("family", ["curvefault_a", "flatvel_a", "flatfault_b", "curvevel_b"])
def test_amplitudes_follow_openfwi_polarity_and_published_range(family):
    data_min, data_max = PUBLISHED_SEISMIC_RANGE[family]
    velocity = torch.from_numpy(velocity_models(np.random.default_rng(11), family, 24))
    seismic = simulate_shot_gathers(velocity).numpy()
    assert seismic.max() > 1.6 * abs(seismic.min())  # largest excursion positive, about twice the negative
    assert seismic.max() == pytest.approx(data_max, rel=0.15)
    assert seismic.min() == pytest.approx(data_min, rel=0.15)


def test_source_amplitude_is_calibrated_to_curvefault_a_published_maximum():
    """The direct wave in a homogeneous 2950 m/s medium (CurveFault-A's fastest top layer) peaks at 52.32."""
    gathers = simulate_shot_gathers(torch.full((1, 1, 70, 70), 2950.0))
    assert gathers.max().item() == pytest.approx(PUBLISHED_SEISMIC_RANGE["curvefault_a"][1], rel=0.002)


def test_batch_composition_does_not_change_a_models_data():
    models = torch.from_numpy(velocity_models(np.random.default_rng(5), "curvefault_a", 3))
    alone = simulate_shot_gathers(models[:1])
    together = simulate_shot_gathers(models)[:1]
    assert torch.equal(alone, together)


def test_absorbing_boundary_is_as_good_as_a_four_times_wider_one(monkeypatch):
    """Boundary reflections: the 10-cell PML against a 40-cell one, on CurveFault-A-like models."""
    from fwilab.physics import forward

    velocity = torch.from_numpy(velocity_models(np.random.default_rng(2), "curvefault_a", 3))
    used = simulate_shot_gathers(velocity)
    monkeypatch.setattr(forward, "PML_WIDTH", 40)
    wide = simulate_shot_gathers(velocity)
    late = slice(400, None)  # after the direct wave has crossed the array: reflections, and boundary echoes
    assert (used - wide).norm() / wide.norm() < 0.005
    assert (used[:, :, late] - wide[:, :, late]).norm() / wide[:, :, late].norm() < 0.02


def test_cpu_generation_gives_each_core_whole_models_with_the_same_gathers():
    from fwilab.physics.forward import simulate_models

    velocity = velocity_models(np.random.default_rng(4), "flatfault_a", 5)
    threads = torch.get_num_threads()
    chunked = simulate_models(velocity, batch_size=2, device=torch.device("cpu"))
    assert torch.get_num_threads() == threads  # the single-threaded calls leave torch's setting as it was
    assert chunked.dtype == np.float32 and chunked.shape == (5, 5, 1000, 70)
    assert np.array_equal(chunked, simulate_shot_gathers(torch.from_numpy(velocity)).numpy())


def test_on_each_core_keeps_the_order_and_runs_every_item_on_one_thread():
    before = torch.get_num_threads()
    results = on_each_core(lambda item: (item * item, torch.get_num_threads()), range(7))
    assert results == [(item * item, 1) for item in range(7)]
    assert torch.get_num_threads() == before
