"""ReconstructionNet: the compact encoder-decoder of the feature-maps design note, made to work.

It keeps the note's idea (fewer, wider stages than InversionNet, widths as multiples of
``base_channels``, the same ConvBlock / DeconvBlock units so activation hooks find them) and fixes
what the sketch got wrong:

* Input has 5 channels (one per source) and the output 1 (velocity); the sketch used one
  ``in_channels`` for both.
* The stem is a ConvBlock (Conv + BN + LeakyReLU) rather than a bare Conv2d, so it is normalised
  and hooked like every other stage; the bottleneck conv is a ConvBlock for the same reason.
* Time-only (k x 1) convolutions get padding (k // 2, 0); the sketch's default padding of 1 grew
  the receiver axis.
* The third stage strides (2, 1) and two stride-2 stages are added, so the time axis reaches 8
  and the bottleneck kernel (8, ceil(70 * scale_factor / 16)) collapses the encoder to 1 x 1 (the
  sketch left a 56 x 11 map, and its ``int(70 * s / 8)`` drops the ceiling InversionNet uses).
* The decoder grows 1 -> 5 -> 10 -> 20 -> 40 -> 80 (one more upsampling stage than the sketch's,
  which stopped at 40), crops 80 -> 70 like InversionNet and ends with Conv + BN + Tanh, so the
  output lives in the same [-1, 1] range as the baseline's.
"""

from __future__ import annotations

from math import ceil

import torch
from torch import nn

from fwilab.models.blocks import ConvBlock, DeconvBlock, crop_80_to_70


class ReconstructionNet(nn.Module):
    """Shot gathers (N, 5, 1000, 70 * scale_factor) -> velocity (N, 1, 70, 70) in [-1, 1]."""

    def __init__(self, in_channels: int = 5, base_channels: int = 32, scale_factor: float = 1.0):
        super().__init__()
        c = base_channels
        receivers = ceil(70 * scale_factor)
        self.enc = nn.Sequential(
            ConvBlock(in_channels, c, kernel_size=(7, 1), stride=(2, 1), padding=(3, 0)),  # 500 x 70
            ConvBlock(c, 2 * c, kernel_size=(3, 1), stride=(2, 1), padding=(1, 0)),  # 250 x 70
            ConvBlock(2 * c, 2 * c, kernel_size=(3, 1), stride=(2, 1), padding=(1, 0)),  # 125 x 70
            ConvBlock(2 * c, 4 * c, stride=2),  # 63 x 35
            ConvBlock(4 * c, 8 * c, stride=2),  # 32 x 18
            ConvBlock(8 * c, 8 * c, stride=2),  # 16 x 9
            ConvBlock(8 * c, 8 * c, stride=2),  # 8 x 5
            ConvBlock(8 * c, 16 * c, kernel_size=(8, ceil(receivers / 16)), padding=0),  # 1 x 1
        )
        self.dec = nn.Sequential(
            DeconvBlock(16 * c, 8 * c, kernel_size=5),  # 5
            ConvBlock(8 * c, 8 * c),
            DeconvBlock(8 * c, 4 * c, kernel_size=4, stride=2, padding=1),  # 10
            ConvBlock(4 * c, 4 * c),
            DeconvBlock(4 * c, 2 * c, kernel_size=4, stride=2, padding=1),  # 20
            ConvBlock(2 * c, 2 * c),
            DeconvBlock(2 * c, c, kernel_size=4, stride=2, padding=1),  # 40
            ConvBlock(c, c),
            DeconvBlock(c, c, kernel_size=4, stride=2, padding=1),  # 80
            ConvBlock(c, c),
        )
        self.head = ConvBlock(c, 1, output_tanh=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(crop_80_to_70(self.dec(self.enc(x))))
