"""The one check of a training job: train.yaml's value (``fwilab.config.tasks.read_train``) and what is wrong only
for the model it builds. ``fwilab.training.loop.train`` takes nothing else, so no run starts unchecked."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from fwilab.config.tasks import TrainSettings, read_train
from fwilab.errors import ConfigError
from fwilab.models.build import build_model
from fwilab.training.objectives import objective_class


def check_train(cfg: DictConfig) -> TrainSettings:
    """train.yaml's checked value, before any data is read or generated (what needs the data is checked where the
    data are known: the batch size against the training split)."""
    settings = read_train(cfg)
    objective_class(settings.objective.name).check(settings)
    if settings.trainer.monitor == "data_misfit" and not settings.physics.samples:
        raise ConfigError(
            "trainer.monitor=data_misfit: the validations report a data misfit only with physics.samples > 0 "
            "(the validation maps re-simulated)"
        )
    with torch.device("meta"):  # the model's values, checked without memory, time or random draws
        model = build_model(settings.model)
    batch_size = settings.trainer.batch_size
    if batch_size < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ConfigError(
            f"trainer.batch_size={batch_size} must be at least 2: BatchNorm needs two samples at the 1x1 bottleneck"
        )
    return settings
