"""ReconstructionNet maps gathers to maps at every width, from hookable blocks, at under half the baseline's size."""

import pytest
import torch

from fwilab.models import ConvBlock, DeconvBlock, ReconstructionNet


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
