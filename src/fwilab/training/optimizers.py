"""Optimizers from optional packages: built through ``import_extra``, so a missing package is one error line that
names the extra to install, not a traceback from Hydra's instantiate."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from fwilab.errors import import_extra


def Lamb(params: Iterable[torch.nn.Parameter], **options: Any) -> torch.optim.Optimizer:
    """LAMB (You et al., 2020) from torch-optimizer (the ``lamb`` extra). Named as the class it builds: run
    summaries, W&B tags and reports read an optimizer's name from the last part of its ``_target_``."""
    return import_extra("torch_optimizer", "lamb", "optimizer=lamb").Lamb(params, **options)
