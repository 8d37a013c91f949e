"""Rendering: exact pixels for known inputs, shapes and dtypes, and odd slices flagged instead of crashing."""

import matplotlib
import numpy as np
import pytest

from fwilab.diagnostics.colormaps import COLORMAPS, apply_colormap, colormap_lut
from fwilab.diagnostics.render import FLAG_COLOUR, PCABasis, render_montage, render_pca_rgb, render_velocity_panel

WHITE = [255, 255, 255]


def test_lut_golden_values():
    assert colormap_lut("gray")[[0, 128, 255]].tolist() == [[0, 0, 0], [128, 128, 128], WHITE]
    assert colormap_lut("viridis")[[0, 255]].tolist() == [[68, 1, 84], [253, 231, 37]]
    assert colormap_lut("velocity")[[0, 255]].tolist() == [[0, 0, 128], [128, 0, 0]]
    seismic = colormap_lut("seismic")
    assert seismic[[0, 255]].tolist() == [[0, 0, 76], [128, 0, 0]]
    assert seismic[127].tolist()[0] >= 250 and seismic[128].tolist()[2] >= 250  # white in the middle
    for name in COLORMAPS:
        assert colormap_lut(name).shape == (256, 3) and colormap_lut(name).dtype == np.uint8
    with pytest.raises(ValueError, match="jet2"):
        colormap_lut("jet2")


@pytest.mark.parametrize(
    "name, theirs", [("gray", "gray"), ("viridis", "viridis"), ("seismic", "seismic"), ("velocity", "jet")]
)
def test_the_tables_are_matplotlibs_own(name, theirs):
    """Each entry is matplotlib's colour rounded to a byte (within half a step), not an approximation from a few points."""
    reference = matplotlib.colormaps[theirs](np.linspace(0.0, 1.0, 256))[:, :3]
    assert np.abs(colormap_lut(name) / 255.0 - reference).max() <= 0.5 / 255 + 1e-9


def test_apply_colormap_exact_pixels_clipping_and_nan():
    rgb = apply_colormap(np.array([[0.0, 0.5, 1.0], [-7.0, 9.0, np.nan]]), "gray", 0.0, 1.0)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    assert rgb[..., 0].tolist() == [[0, 128, 255], [0, 255, 0]]
    assert rgb[1, 2].tolist() == [0, 0, 0]


def test_montage_golden_layout():
    channels = np.array([[[0.0, 1.0], [2.0, 3.0]], [[10.0, 10.0], [10.0, 40.0]]])
    rendered = render_montage(channels, normalization="per_channel", colormap="gray", percentile=0.0, labels=False)
    expected = np.full((4, 7, 3), 255, dtype=np.uint8)  # 1 row x 2 columns of 2x2 tiles, 1-pixel white grid
    expected[1:3, 1:3] = np.array([[0, 85], [170, 255]])[..., None]
    expected[1:3, 4:6] = np.array([[0, 0], [0, 255]])[..., None]
    assert np.array_equal(rendered.image, expected)
    assert rendered.flags == []


def test_montage_shared_normalization_compares_channels():
    channels = np.array([[[0.0, 1.0], [1.0, 1.0]], [[2.0, 2.0], [2.0, 2.0]]])
    shared = render_montage(channels, normalization="shared", colormap="gray", percentile=0.0, labels=False)
    assert shared.image[1:3, 4:6, 0].tolist() == [[255, 255], [255, 255]]  # channel 1 is the brightest
    assert shared.image[1, 1, 0] == 0 and shared.image[1, 2, 0] == 128
    assert shared.flags == []


def test_montage_flags_constant_and_nonfinite_channels():
    channels = np.random.default_rng(0).normal(size=(4, 6, 5))
    channels[1] = 3.0
    channels[2, 0, 0] = np.inf
    rendered = render_montage(channels, max_channels=3, labels=True, scale=2)
    assert rendered.flags == ["channel 1: constant", "channel 2: NaN/Inf"]
    assert rendered.image.dtype == np.uint8 and rendered.image.ndim == 3
    assert (rendered.image == FLAG_COLOUR).all(axis=-1).sum() > 0
    with pytest.raises(ValueError, match="normalization"):
        render_montage(channels, normalization="global")


ORTHOGONAL = np.array([[3.0, -3.0, 3.0, -3.0], [2.0, 2.0, -2.0, -2.0], [1.0, -1.0, -1.0, 1.0]]).reshape(3, 2, 2)


def test_pca_rgb_golden_pixels():
    rendered, basis = render_pca_rgb(ORTHOGONAL, sigmas=1.0)
    assert rendered.image.dtype == np.uint8 and rendered.image.shape == (2, 2, 3)
    assert rendered.image.reshape(4, 3).tolist() == [[255, 255, 255], [0, 255, 0], [255, 0, 0], [0, 0, 255]]
    assert np.allclose(np.abs(basis.components), np.eye(3))
    assert np.all(basis.components.max(axis=1) > 0)  # sign rule: the largest loading is positive


def test_pca_rgb_keeps_signs_of_the_previous_snapshot():
    _, basis = render_pca_rgb(ORTHOGONAL, sigmas=1.0)
    flipped = PCABasis(-basis.components)
    rendered, aligned = render_pca_rgb(ORTHOGONAL, previous=flipped, sigmas=1.0)
    assert np.allclose(aligned.components, flipped.components)
    assert rendered.image.reshape(4, 3).tolist() == [[0, 0, 0], [255, 0, 255], [0, 255, 255], [255, 255, 0]]


def test_pca_rgb_colours_follow_their_component_through_an_eigenvalue_crossing():
    """Channel 0 carries pattern A, channel 1 pattern B; their variances swap between snapshots."""
    rng = np.random.default_rng(3)
    pattern_a, pattern_b = rng.normal(size=(2, 12, 12))
    noise = 0.05 * rng.normal(size=(2, 12, 12))

    def activations(std_a: float, std_b: float) -> np.ndarray:
        return np.stack([std_a * pattern_a, std_b * pattern_b, *noise])

    _, before = render_pca_rgb(activations(3.0, 2.0))
    rendered, after = render_pca_rgb(activations(2.0, 3.0), previous=before)
    red, green = rendered.image[..., 0].astype(float).ravel(), rendered.image[..., 1].astype(float).ravel()
    assert abs(np.corrcoef(red, pattern_a.ravel())[0, 1]) > 0.9  # red still means pattern A, though B now ranks first
    assert abs(np.corrcoef(green, pattern_b.ravel())[0, 1]) > 0.9
    assert np.all(np.sum(after.components * before.components, axis=1) > 0)  # and its sign is kept
    fresh, _ = render_pca_rgb(activations(2.0, 3.0))
    assert (
        abs(np.corrcoef(fresh.image[..., 0].astype(float).ravel(), pattern_b.ravel())[0, 1]) > 0.9
    )  # without history, rank decides


def test_pca_rgb_uses_many_channels_and_few_channels():
    rng = np.random.default_rng(1)
    rendered, basis = render_pca_rgb(rng.normal(size=(32, 20, 7)), scale=3)
    assert rendered.image.shape == (60, 21, 3) and basis.components.shape == (3, 32)
    two, _ = render_pca_rgb(rng.normal(size=(2, 4, 4)))
    assert (two.image[..., 2] == 0).all() and two.image[..., :2].std() > 0


@pytest.mark.parametrize("value, flag", [(np.nan, "activations: NaN/Inf"), (None, "activations: constant")])
def test_pca_rgb_survives_bad_input(value, flag):
    activations = np.ones((4, 5, 5))
    if value is not None:
        activations[0, 0, 0] = value
    rendered, _ = render_pca_rgb(activations)
    assert flag in rendered.flags and rendered.image.shape == (5, 5, 3)


def test_velocity_panel_shows_prediction_truth_and_error_in_ms():
    truth = np.full((70, 70), 3000.0)
    truth[35:] = 4500.0
    prediction = truth + 150.0
    rendered = render_velocity_panel(prediction, truth, scale=3)
    image = rendered.image
    assert image.dtype == np.uint8 and image.shape == (70 * 3 + 16, 3 * (210 + 72), 3)
    top = 16 + 10
    assert image[top, 5].tolist() == apply_colormap(np.array([[3150.0]]), "velocity", 1500, 4500)[0, 0].tolist()
    assert image[top, 282 + 5].tolist() == apply_colormap(np.array([[3000.0]]), "velocity", 1500, 4500)[0, 0].tolist()
    assert image[top, 2 * 282 + 5].tolist() == [128, 0, 0]  # +150 m/s everywhere: the top of the error scale
    assert rendered.flags == []
    prediction[0, 0] = np.nan
    assert render_velocity_panel(prediction, truth).flags == ["prediction: NaN/Inf"]
