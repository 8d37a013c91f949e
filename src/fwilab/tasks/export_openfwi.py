"""The export_openfwi task: a trained InversionNet as a file OpenFWI's ``test.py --resume`` reads."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fwilab.models.build import build_model
from fwilab.training.checkpoint import Checkpoint, export_openfwi, load_model_weights

log = logging.getLogger(__name__)


def export_openfwi_checkpoint(cfg: DictConfig) -> Path:
    """``cfg.checkpoint`` (an fwilab checkpoint) written to ``cfg.out`` in OpenFWI's format."""
    saved = Checkpoint.read(cfg.checkpoint)
    model = build_model(OmegaConf.create(saved.config).model)
    load_model_weights(model, saved.model, cfg.checkpoint)
    path = export_openfwi(model, saved.step, saved.epoch or 0, cfg.out)
    log.info("wrote %s (OpenFWI's format: model, epoch, step) from %s at step %d", path, cfg.checkpoint, saved.step)
    return path
