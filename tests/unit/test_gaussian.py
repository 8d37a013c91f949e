"""fwilab.gaussian against scipy's Gaussian filter, the independent reference."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from fwilab.gaussian import gaussian_line


@pytest.mark.parametrize(("sigma", "radius"), [(1.5, 5), (3.0, 9), (0.5, 1)])
def test_the_line_is_scipys_gaussian_kernel(sigma, radius):
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    reference = gaussian_filter1d(impulse, sigma, mode="constant", truncate=radius / sigma)
    line = gaussian_line(sigma, radius)
    assert line.dtype == torch.float64 and line.sum().item() == pytest.approx(1.0)
    assert line.numpy() == pytest.approx(reference, abs=1e-12)


def test_the_line_takes_the_callers_dtype():
    assert gaussian_line(2.0, 6, torch.float32).dtype == torch.float32
