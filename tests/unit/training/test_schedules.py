"""Learning-rate schedules: warm-up, cosine and multistep, step by step."""

import pytest
import torch

from fwilab.training.schedules import constant, warmup_cosine, warmup_multistep


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
