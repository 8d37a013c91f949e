"""VelocityGAN's critic: OpenFWI's ``network.Discriminator``, module for module, so that the ``model_d`` of its
``gan_train.py`` checkpoints loads with ``strict=True``."""

from __future__ import annotations

import torch
from torch import nn

from fwilab.models.blocks import ConvBlock


class Discriminator(nn.Module):
    """A velocity map (N, 1, 70, 70) -> one unbounded score per sample (N, 1): a Wasserstein critic.

    Four stride-2 stages of ``base_channels`` x (1, 2, 4, 8) channels take 70 x 70 to 5 x 5, and a 5 x 5 convolution
    to one value; OpenFWI's (32, 64, 128, 256) is the default. As in OpenFWI, every block has BatchNorm and a
    LeakyReLU(0.2), the score's too.
    """

    def __init__(self, base_channels: int = 32):
        super().__init__()
        dim1, dim2, dim3, dim4 = (base_channels * m for m in (1, 2, 4, 8))
        self.convblock1_1 = ConvBlock(1, dim1, stride=2)
        self.convblock1_2 = ConvBlock(dim1, dim1)
        self.convblock2_1 = ConvBlock(dim1, dim2, stride=2)
        self.convblock2_2 = ConvBlock(dim2, dim2)
        self.convblock3_1 = ConvBlock(dim2, dim3, stride=2)
        self.convblock3_2 = ConvBlock(dim3, dim3)
        self.convblock4_1 = ConvBlock(dim3, dim4, stride=2)
        self.convblock4_2 = ConvBlock(dim4, dim4)
        self.convblock5 = ConvBlock(dim4, 1, kernel_size=5, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.children():  # registration order is OpenFWI's forward order
            x = block(x)
        return x.flatten(1)
