"""The export_openfwi task: a trained InversionNet as a file OpenFWI's ``test.py --resume`` reads."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import OmegaConf

from fwilab.config.tasks import ExportSettings
from fwilab.models.build import build_model
from fwilab.training.checkpoint import Checkpoint, export_openfwi, load_model_weights

log = logging.getLogger(__name__)


def export_openfwi_checkpoint(settings: ExportSettings) -> Path:
    """``settings.checkpoint`` (an fwilab checkpoint) written to ``settings.out`` in OpenFWI's format."""
    saved = Checkpoint.read(settings.checkpoint)
    model = build_model(OmegaConf.create(saved.config).model)
    load_model_weights(model, saved.model, settings.checkpoint)
    path = export_openfwi(model, saved.step, saved.epoch or 0, settings.out)
    log.info(
        "wrote %s (OpenFWI's format: model, epoch, step) from %s at step %d", path, settings.checkpoint, saved.step
    )
    return path
