"""Velocity-model families: reproducibility, ranges, geometry, and CurveFault-A's real statistics."""

import numpy as np
import pytest

from fwilab.data.synthetic.faithfulness import TARGETS, family_statistics, first_interface_depths, flatten
from fwilab.data.synthetic.velocity import FAMILIES, velocity_models
from fwilab.errors import ConfigError


@pytest.fixture(scope="module")
def curvefault_a() -> np.ndarray:
    return velocity_models(np.random.default_rng(7), "curvefault_a", 600)[:, 0]


def test_same_seed_same_models_and_other_seed_differs():
    first = velocity_models(np.random.default_rng(1), "curvevel_b", 5)
    again = velocity_models(np.random.default_rng(1), "curvevel_b", 5)
    other = velocity_models(np.random.default_rng(2), "curvevel_b", 5)
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_is_openfwi_shaped_and_in_range(family):
    maps = velocity_models(np.random.default_rng(0), family, 20)
    assert maps.shape == (20, 1, 70, 70) and maps.dtype == np.float32
    assert maps.min() >= 1500.0 and maps.max() <= 4500.0


def test_flat_families_have_flat_layers():
    maps = velocity_models(np.random.default_rng(0), "flatvel_a", 20)[:, 0]
    assert np.all(maps == maps[:, :, :1])


def test_vel_a_increases_with_depth_and_b_does_not_always():
    a = velocity_models(np.random.default_rng(0), "flatvel_a", 50)[:, 0, :, 0]
    b = velocity_models(np.random.default_rng(0), "flatvel_b", 50)[:, 0, :, 0]
    assert np.all(np.diff(a, axis=1) >= 0)
    assert np.mean(np.all(np.diff(b, axis=1) >= 0, axis=1)) < 0.5


def test_curved_layers_bend_but_do_not_jump():
    maps = velocity_models(np.random.default_rng(0), "curvevel_a", 50)[:, 0]
    assert any(not np.all(m == m[:, :1]) for m in maps)
    for m in maps:
        top_interface = first_interface_depths(m)
        assert np.abs(np.diff(top_interface)).max() <= 2


def test_interfaces_blend_over_two_or_three_rows_and_layers_keep_their_velocity():
    """A flat interface: the rows between two layers hold mixtures, every other cell a layer's exact value."""
    m = velocity_models(np.random.default_rng(3), "flatvel_a", 1)[0, 0, :, 0].astype(np.float64)
    layer_values = [v for v in np.unique(m) if np.sum(m == v) >= 2]
    mixed = [v for v in m if v not in layer_values]
    assert len(layer_values) >= 2 and 1 <= len(mixed) <= 2 * (len(layer_values) - 1)
    for value in mixed:  # each mixture lies strictly between the layers around it
        row = int(np.flatnonzero(m == value)[0])
        above = max(v for v in m[:row] if v in layer_values) if row else None
        below = next(v for v in m[row:] if v in layer_values)
        assert above is not None and min(above, below) < value < max(above, below)


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ConfigError, match="curvefault_a"):
        velocity_models(np.random.default_rng(0), "saltdome_a", 1)


def test_curvefault_a_holds_every_statistic_measured_on_real_maps(curvefault_a):
    measured = flatten(family_statistics(curvefault_a))
    outside = {
        key: (round(measured[key], 3), target.low, target.high)
        for key, target in TARGETS["curvefault_a"].items()
        if not target.holds(measured[key])
    }
    assert not outside
    assert set(TARGETS["curvefault_a"]) <= set(measured)


def test_curvefault_a_maps_are_mostly_faulted(curvefault_a):
    """A fault displaces interfaces: the first interface steps by 3+ rows between neighbouring columns."""

    def has_throw(m: np.ndarray) -> bool:
        return bool(np.abs(np.diff(first_interface_depths(m))).max() >= 3)

    faulted = np.mean([has_throw(m) for m in curvefault_a[:200]])
    assert 0.5 < faulted < 0.95
