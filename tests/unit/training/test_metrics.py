"""Metrics against independent implementations: OpenFWI's SSIM through scipy, whole-split numpy values."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from fwilab.data.transforms import Normalizer
from fwilab.training.metrics import MetricAccumulator, per_sample_scores, ssim_per_sample


def _maps(seed: int, n: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(n, 1, 74, 74, generator=generator), 5, stride=1)
    return smooth * 2 - 1


def _layered_maps(seed: int, n: int = 3) -> torch.Tensor:
    """Piecewise-constant layered velocity maps in [-1, 1] with a dipping interface and a fault step."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:70, 0:70]
    maps = np.empty((n, 1, 70, 70), dtype=np.float32)
    for k in range(n):
        depths = np.sort(rng.uniform(5, 65, size=3))
        dip, throw, fault = rng.uniform(-0.2, 0.2), rng.integers(0, 8), rng.integers(10, 60)
        shifted = rows - dip * columns - np.where(columns > fault, throw, 0)
        layer = (shifted[None] > depths[:, None, None]).sum(axis=0)
        maps[k, 0] = np.sort(rng.uniform(-1, 1, size=4))[layer]
    return torch.from_numpy(maps)


def openfwi_ssim_with_scipy(prediction: np.ndarray, target: np.ndarray) -> float:
    """OpenFWI's pytorch_ssim written with scipy: zero-padded 11x11 Gaussian (sigma 1.5), mean of the map."""
    from scipy.ndimage import gaussian_filter

    def mean(image: np.ndarray) -> np.ndarray:  # radius 5 = int(truncate * sigma + 0.5)
        return gaussian_filter(image, sigma=1.5, truncate=5 / 1.5, mode="constant", cval=0.0)

    x, y = prediction.astype(np.float64), target.astype(np.float64)
    mu_x, mu_y = mean(x), mean(y)
    var_x, var_y, cov = mean(x * x) - mu_x**2, mean(y * y) - mu_y**2, mean(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))).mean())


@pytest.mark.parametrize("make_maps", [_maps, _layered_maps], ids=["random", "layered"])
def test_ssim_is_openfwis_zero_padded_gaussian_ssim(make_maps):
    prediction, target = make_maps(0), make_maps(1)
    ours = ssim_per_sample(prediction / 2 + 0.5, target / 2 + 0.5).numpy()
    reference = [
        openfwi_ssim_with_scipy((p[0] / 2 + 0.5).numpy(), (t[0] / 2 + 0.5).numpy()) for p, t in zip(prediction, target)
    ]
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert ssim_per_sample(target / 2 + 0.5, target / 2 + 0.5).min() > 0.99999


def test_zero_padded_ssim_differs_from_the_unpadded_average():
    """The border windows count in OpenFWI's SSIM; scikit-image's average leaves them out."""
    prediction, target = _layered_maps(4), _layered_maps(5)
    ours = ssim_per_sample(prediction / 2 + 0.5, target / 2 + 0.5).numpy()
    unpadded = [
        structural_similarity(
            (t[0] / 2 + 0.5).double().numpy(),
            (p[0] / 2 + 0.5).double().numpy(),
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for p, t in zip(prediction, target)
    ]
    assert np.abs(ours - np.array(unpadded)).max() > 1e-3


def test_accumulated_metrics_equal_whole_split_numpy_values():
    normalizer = Normalizer(data_min=-26.48, data_max=52.32)
    prediction, target = _maps(2, 5), _maps(3, 5)
    accumulator = MetricAccumulator(normalizer.ms_per_unit)
    accumulator.update(prediction[:2], target[:2])
    accumulator.update(prediction[2:], target[2:])
    metrics = accumulator.compute()
    difference = (prediction - target).double().numpy()
    assert metrics["mae"] == pytest.approx(np.abs(difference).mean(), rel=1e-6)
    assert metrics["mse"] == pytest.approx((difference**2).mean(), rel=1e-6)
    assert metrics["rmse"] == pytest.approx(math.sqrt((difference**2).mean()), rel=1e-6)
    assert metrics["mae_ms"] == pytest.approx(metrics["mae"] * 1500.0, rel=1e-9)
    ms_error = normalizer.velocity_to_ms(prediction) - normalizer.velocity_to_ms(target)
    assert metrics["mae_ms"] == pytest.approx(ms_error.abs().mean().item(), rel=1e-4)


def test_per_sample_scores_are_each_maps_numpy_errors_and_its_openfwi_ssim():
    prediction, target = _maps(4), _maps(5)
    scores = per_sample_scores(prediction, target)
    difference = (prediction - target).double().numpy().reshape(3, -1)
    assert scores["mae"].numpy() == pytest.approx(np.abs(difference).mean(axis=1), rel=1e-9)
    assert scores["mse"].numpy() == pytest.approx((difference**2).mean(axis=1), rel=1e-9)
    reference = [
        openfwi_ssim_with_scipy((p[0] / 2 + 0.5).numpy(), (t[0] / 2 + 0.5).numpy()) for p, t in zip(prediction, target)
    ]
    assert scores["ssim"].numpy() == pytest.approx(reference, abs=1e-6)
