"""InversionNet matches OpenFWI layer for layer; ReconstructionNet maps gathers to maps at every width."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fwilab.models import ConvBlock, DeconvBlock, InversionNet, ReconstructionNet

# OpenFWI network.py's module names, in order, with the shape of each block's conv weight.
OPENFWI_INVERSIONNET = {
    "convblock1": (32, 5, 7, 1),
    "convblock2_1": (64, 32, 3, 1),
    "convblock2_2": (64, 64, 3, 1),
    "convblock3_1": (64, 64, 3, 1),
    "convblock3_2": (64, 64, 3, 1),
    "convblock4_1": (128, 64, 3, 1),
    "convblock4_2": (128, 128, 3, 1),
    "convblock5_1": (128, 128, 3, 3),
    "convblock5_2": (128, 128, 3, 3),
    "convblock6_1": (256, 128, 3, 3),
    "convblock6_2": (256, 256, 3, 3),
    "convblock7_1": (256, 256, 3, 3),
    "convblock7_2": (256, 256, 3, 3),
    "convblock8": (512, 256, 8, 9),
    "deconv1_1": (512, 512, 5, 5),
    "deconv1_2": (512, 512, 3, 3),
    "deconv2_1": (512, 256, 4, 4),
    "deconv2_2": (256, 256, 3, 3),
    "deconv3_1": (256, 128, 4, 4),
    "deconv3_2": (128, 128, 3, 3),
    "deconv4_1": (128, 64, 4, 4),
    "deconv4_2": (64, 64, 3, 3),
    "deconv5_1": (64, 32, 4, 4),
    "deconv5_2": (32, 32, 3, 3),
    "deconv6": (1, 32, 3, 3),
}


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


@pytest.mark.parametrize("base_channels", [16, 32, 64])
def test_reconstructionnet_maps_gathers_to_velocity(base_channels):
    model = ReconstructionNet(base_channels=base_channels).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 5, 1000, 70))
    assert y.shape == (2, 1, 70, 70) and y.abs().max() <= 1
    bottleneck = model.enc(torch.randn(2, 5, 1000, 70))
    assert bottleneck.shape == (2, 16 * base_channels, 1, 1)


def test_reconstructionnet_is_built_from_hookable_blocks():
    model = ReconstructionNet(base_channels=16)
    kinds = [type(m) for m in model.modules() if isinstance(m, (ConvBlock, DeconvBlock))]
    assert kinds.count(DeconvBlock) == 5 and kinds.count(ConvBlock) == 8 + 5 + 1
    assert not any(type(m) is torch.nn.Conv2d for m in model.children())


def test_reconstructionnet_is_smaller_than_the_baseline():
    count = sum(p.numel() for p in ReconstructionNet(base_channels=32).parameters())
    assert count < 24_409_123 / 2
