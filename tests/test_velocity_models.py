"""Velocity-model families: reproducibility, ranges and the statistics of real CurveFault-A maps."""

import numpy as np
import pytest

from fwilab.data.synthetic.velocity import FAMILIES, velocity_models
from fwilab.errors import ConfigError


@pytest.fixture(scope="module")
def curvefault_a() -> np.ndarray:
    return velocity_models(np.random.default_rng(7), "curvefault_a", 600)[:, 0]


def test_same_seed_same_models_and_other_seed_differs():
    first = velocity_models(np.random.default_rng(1), "curvevel_b", 5)
    again = velocity_models(np.random.default_rng(1), "curvevel_b", 5)
    other = velocity_models(np.random.default_rng(2), "curvevel_b", 5)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_is_openfwi_shaped_and_in_range(family):
    maps = velocity_models(np.random.default_rng(0), family, 20)
    assert maps.shape == (20, 1, 70, 70) and maps.dtype == np.float32
    assert maps.min() >= 1500.0 and maps.max() <= 4500.0


def test_flat_families_have_flat_layers():
    maps = velocity_models(np.random.default_rng(0), "flatvel_a", 20)[:, 0]
    assert np.all(maps == maps[:, :, :1])


def test_curved_layers_bend_but_do_not_jump():
    maps = velocity_models(np.random.default_rng(0), "curvevel_a", 50)[:, 0]
    assert any(not np.all(m == m[:, :1]) for m in maps)
    for m in maps:
        top_interface = np.argmax(m != m[:1], axis=0)  # depth of the first velocity change per column
        assert np.abs(np.diff(top_interface)).max() <= 2


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ConfigError, match="curvefault_a"):
        velocity_models(np.random.default_rng(0), "saltdome_a", 1)


def test_curvefault_a_matches_measured_openfwi_statistics(curvefault_a):
    top, bottom = curvefault_a[:, 0, :], curvefault_a[:, -1, :]
    assert 1500 <= top.min() < 1560 and 2880 < top.max() <= 2950
    assert np.percentile(bottom, 1) >= 3080 and bottom.max() > 4440
    layers = np.array([len(np.unique(m)) for m in curvefault_a])
    assert layers.min() >= 3 and layers.max() <= 5 and 3.5 < layers.mean() < 4.5
    centre = curvefault_a[:, :, 35]
    monotonic = np.mean(np.all(np.diff(centre, axis=1) >= 0, axis=1))
    assert 0.32 <= monotonic <= 0.48


def test_curvefault_a_maps_are_faulted(curvefault_a):
    """A fault displaces interfaces: some column-to-column step in interface depth of 4+ cells."""

    def has_throw(m: np.ndarray) -> bool:
        changes = np.diff(m, axis=0) != 0
        depths = [np.flatnonzero(changes[:, x]) for x in range(70)]
        return any(len(a) and len(b) and np.abs(a[0] - b[0]) >= 4 for a, b in zip(depths, depths[1:]))

    faulted = np.mean([has_throw(m) for m in curvefault_a[:100]])
    assert faulted > 0.6
