"""Building blocks shared by every network, named as in OpenFWI so that checkpoints interchange.

Each block keeps its layers in a ``layers`` Sequential (OpenFWI's state_dict keys) and is the unit
that activation hooks select by type.
"""

from __future__ import annotations

import torch
from torch import nn

KernelSize = int | tuple[int, int]


class ConvBlock(nn.Module):
    """Conv2d + BatchNorm2d + LeakyReLU(0.2), or Tanh as the output head (OpenFWI's ConvBlock_Tanh)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: KernelSize = 3,
        stride: KernelSize = 1,
        padding: KernelSize = 1,
        output_tanh: bool = False,
    ):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
            nn.BatchNorm2d(out_channels),
            nn.Tanh() if output_tanh else nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DeconvBlock(nn.Module):
    """ConvTranspose2d + BatchNorm2d + LeakyReLU(0.2): the decoder's upsampling step."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: KernelSize = 2,
        stride: KernelSize = 2,
        padding: KernelSize = 0,
    ):
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def crop_80_to_70(x: torch.Tensor) -> torch.Tensor:
    """Drop 5 cells on every side: the decoders upsample 5 -> 80 and the map is 70 x 70."""
    return x[..., 5:-5, 5:-5]
