"""Metrics against independent implementations; loss weighting; learning-rate schedules."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from fwilab.data.transforms import Normalizer, log_transform
from fwilab.training.losses import WeightedL1L2
from fwilab.training.metrics import MetricAccumulator, ssim_per_sample
from fwilab.training.schedules import constant, warmup_cosine, warmup_multistep


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


def test_openfwi_transforms_map_published_bounds_to_unit_range():
    normalizer = Normalizer(data_min=-26.48, data_max=52.32)
    seismic = normalizer.seismic(torch.tensor([-26.48, 0.0, 52.32]))
    assert seismic[0].item() == pytest.approx(-1.0) and seismic[2].item() == pytest.approx(1.0)
    assert seismic[1].item() == pytest.approx(-1 + 2 * math.log1p(26.48) / (math.log1p(26.48) + math.log1p(52.32)))
    velocity = torch.tensor([1500.0, 3000.0, 4500.0])
    assert normalizer.velocity(velocity).tolist() == [-1.0, 0.0, 1.0]
    assert torch.allclose(normalizer.velocity_to_ms(normalizer.velocity(velocity)), velocity)
    assert torch.equal(log_transform(torch.tensor([-math.e + 1, 0.0])), torch.tensor([-1.0, 0.0]))


def test_weighted_loss_combines_l1_and_l2():
    prediction, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    assert WeightedL1L2(1.0, 0.0)(prediction, target).item() == pytest.approx(1.0)
    assert WeightedL1L2(0.0, 1.0)(prediction, target).item() == pytest.approx(1.5)
    assert WeightedL1L2(2.0, 3.0)(prediction, target).item() == pytest.approx(6.5)


def _lrs(factory, steps: int, **kwargs) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = factory(optimizer, total_steps=steps, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_schedules():
    assert _lrs(constant, 5) == [1.0] * 5
    assert _lrs(constant, 5, warmup_steps=4)[:4] == [0.25, 0.5, 0.75, 1.0]
    cosine = _lrs(warmup_cosine, 102, warmup_steps=2, min_lr_ratio=0.1)
    assert cosine[:2] == [0.5, 1.0] and cosine[2] == pytest.approx(1.0)
    assert cosine[-1] == pytest.approx(0.1, abs=1e-3) and all(a >= b for a, b in zip(cosine[2:], cosine[3:]))
    multistep = _lrs(warmup_multistep, 100, warmup_steps=0, milestones=[0.5, 0.75], gamma=0.1)
    assert multistep[49] == 1.0 and multistep[50] == pytest.approx(0.1) and multistep[75] == pytest.approx(0.01)
