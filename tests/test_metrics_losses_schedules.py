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


def test_ssim_matches_scikit_image_gaussian_ssim():
    prediction, target = _maps(0), _maps(1)
    ours = ssim_per_sample((prediction + 1) / 2, (target + 1) / 2).numpy()
    reference = [
        structural_similarity(
            ((t + 1) / 2)[0].double().numpy(), ((p + 1) / 2)[0].double().numpy(),
            data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        )
        for p, t in zip(prediction, target)
    ]
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert ssim_per_sample((target + 1) / 2, (target + 1) / 2).min() > 0.9999


def test_accumulated_metrics_equal_whole_split_numpy_values():
    normalizer = Normalizer(data_min=-26.48, data_max=52.32)
    prediction, target = _maps(2, 5), _maps(3, 5)
    accumulator = MetricAccumulator(normalizer.ms_per_unit)
    accumulator.update(prediction[:2], target[:2])
    accumulator.update(prediction[2:], target[2:])
    metrics = accumulator.compute()
    difference = (prediction - target).double().numpy()
    assert metrics["mae"] == pytest.approx(np.abs(difference).mean(), rel=1e-6)
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
