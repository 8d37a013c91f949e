"""Encoder-decoder networks mapping shot gathers (N, 5, 1000, 70) to velocity maps (N, 1, 70, 70)."""

from fwilab.models.blocks import ConvBlock, DeconvBlock
from fwilab.models.discriminator import Discriminator
from fwilab.models.inversionnet import InversionNet
from fwilab.models.reconstruction import ReconstructionNet

__all__ = ["ConvBlock", "DeconvBlock", "Discriminator", "InversionNet", "ReconstructionNet"]
