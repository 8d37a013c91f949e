"""InversionNet (Wu & Lin, 2019) exactly as OpenFWI's ``network.py`` builds it for 70 x 70 maps.

Module names and shapes match OpenFWI's, so its checkpoints load with ``strict=True``.
"""

from __future__ import annotations

from math import ceil

import torch
from torch import nn

from fwilab.models.blocks import ConvBlock, DeconvBlock, crop_80_to_70


class InversionNet(nn.Module):
    """Shot gathers (N, 5, 1000, 70 * sample_spatial) -> velocity (N, 1, 70, 70) in [-1, 1].

    Stage widths are ``base_channels`` x (1, 2, 4, 8, 16); OpenFWI's (32, 64, 128, 256, 512) is the
    default, with 24,409,123 parameters.
    """

    def __init__(self, base_channels: int = 32, sample_spatial: float = 1.0):
        super().__init__()
        dim1, dim2, dim3, dim4, dim5 = (base_channels * m for m in (1, 2, 4, 8, 16))
        time_only = dict(kernel_size=(3, 1), padding=(1, 0))
        self.convblock1 = ConvBlock(5, dim1, kernel_size=(7, 1), stride=(2, 1), padding=(3, 0))
        self.convblock2_1 = ConvBlock(dim1, dim2, stride=(2, 1), **time_only)
        self.convblock2_2 = ConvBlock(dim2, dim2, **time_only)
        self.convblock3_1 = ConvBlock(dim2, dim2, stride=(2, 1), **time_only)
        self.convblock3_2 = ConvBlock(dim2, dim2, **time_only)
        self.convblock4_1 = ConvBlock(dim2, dim3, stride=(2, 1), **time_only)
        self.convblock4_2 = ConvBlock(dim3, dim3, **time_only)
        self.convblock5_1 = ConvBlock(dim3, dim3, stride=2)
        self.convblock5_2 = ConvBlock(dim3, dim3)
        self.convblock6_1 = ConvBlock(dim3, dim4, stride=2)
        self.convblock6_2 = ConvBlock(dim4, dim4)
        self.convblock7_1 = ConvBlock(dim4, dim4, stride=2)
        self.convblock7_2 = ConvBlock(dim4, dim4)
        self.convblock8 = ConvBlock(dim4, dim5, kernel_size=(8, ceil(70 * sample_spatial / 8)), padding=0)

        self.deconv1_1 = DeconvBlock(dim5, dim5, kernel_size=5)
        self.deconv1_2 = ConvBlock(dim5, dim5)
        self.deconv2_1 = DeconvBlock(dim5, dim4, kernel_size=4, stride=2, padding=1)
        self.deconv2_2 = ConvBlock(dim4, dim4)
        self.deconv3_1 = DeconvBlock(dim4, dim3, kernel_size=4, stride=2, padding=1)
        self.deconv3_2 = ConvBlock(dim3, dim3)
        self.deconv4_1 = DeconvBlock(dim3, dim2, kernel_size=4, stride=2, padding=1)
        self.deconv4_2 = ConvBlock(dim2, dim2)
        self.deconv5_1 = DeconvBlock(dim2, dim1, kernel_size=4, stride=2, padding=1)
        self.deconv5_2 = ConvBlock(dim1, dim1)
        self.deconv6 = ConvBlock(dim1, 1, output_tanh=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *body, head = self.children()  # registration order is OpenFWI's forward order
        for block in body:
            x = block(x)
        return head(crop_80_to_70(x))
