"""OpenFWI's transforms: the published bounds map to the unit range and back."""

import math

import pytest
import torch

from fwilab.data.transforms import Normalizer, log_transform


def test_openfwi_transforms_map_published_bounds_to_unit_range():
    normalizer = Normalizer(data_min=-26.48, data_max=52.32)
    seismic = normalizer.seismic(torch.tensor([-26.48, 0.0, 52.32]))
    assert seismic[0].item() == pytest.approx(-1.0) and seismic[2].item() == pytest.approx(1.0)
    assert seismic[1].item() == pytest.approx(-1 + 2 * math.log1p(26.48) / (math.log1p(26.48) + math.log1p(52.32)))
    velocity = torch.tensor([1500.0, 3000.0, 4500.0])
    assert normalizer.velocity(velocity).tolist() == [-1.0, 0.0, 1.0]
    assert torch.allclose(normalizer.velocity_to_ms(normalizer.velocity(velocity)), velocity)
    assert torch.equal(log_transform(torch.tensor([-math.e + 1, 0.0])), torch.tensor([-1.0, 0.0]))
