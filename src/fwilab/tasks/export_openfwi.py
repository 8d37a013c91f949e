"""The export_openfwi task: a trained InversionNet as a file OpenFWI's ``test.py --resume`` reads; a VelocityGAN
run's (``objective=velocitygan``) as the ``gan_train.py`` file its ``--resume`` continues."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import OmegaConf

from fwilab.config.tasks import ExportSettings
from fwilab.errors import CheckpointError
from fwilab.models.build import build_model
from fwilab.training.checkpoint import Checkpoint, export_openfwi, load_model_weights

log = logging.getLogger(__name__)
OPENFWI_LOADABLE_OPTIMIZERS = ("torch.optim.AdamW", "torch.optim.Adam")  # their states load into gan_train.py's AdamW


def export_openfwi_checkpoint(settings: ExportSettings) -> Path:
    """``settings.checkpoint`` (an fwilab checkpoint) written to ``settings.out`` in OpenFWI's format."""
    saved = Checkpoint.read(settings.checkpoint)
    model = build_model(OmegaConf.create(saved.config).model)
    load_model_weights(model, saved.model, settings.checkpoint)
    gan = "critic" in saved.parts
    if gan:
        optimizer = saved.config["optimizer"]["_target_"]
        if optimizer not in OPENFWI_LOADABLE_OPTIMIZERS:
            raise CheckpointError(
                f"{settings.checkpoint}: gan_train.py --resume loads AdamW states, and this run's optimizer is "
                f"{optimizer}; export it from a run with optimizer=adamw or optimizer=adam"
            )
    path = export_openfwi(model, saved.step, saved.epoch or 0, settings.out, gan=saved if gan else None)
    keys = "model, model_d, optimizer_g, optimizer_d, lr_schedulers, epoch, step" if gan else "model, epoch, step"
    script = "gan_train.py" if gan else "train.py"
    log.info(
        "wrote %s (OpenFWI's %s format: %s) from %s at step %d", path, script, keys, settings.checkpoint, saved.step
    )
    return path
