"""InversionNet matches OpenFWI layer for layer: names, shapes, parameter count, output range and FLOPs."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fwilab.models import InversionNet
from helpers.references import OPENFWI_INVERSIONNET


@pytest.fixture(scope="module")
def inversionnet() -> InversionNet:
    torch.manual_seed(0)
    return InversionNet().eval()


def test_inversionnet_parameter_count(inversionnet):
    assert sum(p.numel() for p in inversionnet.parameters()) == 24_409_123


def test_inversionnet_state_dict_uses_openfwi_names(inversionnet):
    state = inversionnet.state_dict()
    blocks = [name for name, _ in inversionnet.named_children()]
    assert blocks == list(OPENFWI_INVERSIONNET)
    for name, shape in OPENFWI_INVERSIONNET.items():
        assert tuple(state[f"{name}.layers.0.weight"].shape) == shape
        assert f"{name}.layers.1.running_var" in state
    assert len(state) == 25 * 7  # conv w/b + BN w/b/mean/var/num_batches per block


def test_inversionnet_shape_range_and_flops(inversionnet):
    x = torch.randn(2, 5, 1000, 70)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = inversionnet(x)
    assert y.shape == (2, 1, 70, 70) and y.abs().max() <= 1
    assert counter.get_total_flops() / 2 == pytest.approx(4.19e9, rel=0.01)
