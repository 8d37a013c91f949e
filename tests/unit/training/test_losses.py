"""The loss: OpenFWI's weighted L1 + L2."""

import pytest
import torch

from fwilab.training.losses import WeightedL1L2


def test_weighted_loss_combines_l1_and_l2():
    prediction, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    assert WeightedL1L2(1.0, 0.0)(prediction, target).item() == pytest.approx(1.0)
    assert WeightedL1L2(0.0, 1.0)(prediction, target).item() == pytest.approx(1.5)
    assert WeightedL1L2(2.0, 3.0)(prediction, target).item() == pytest.approx(6.5)
