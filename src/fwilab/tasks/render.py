"""Pictures of a saved model: every hooked layer for one chosen sample (render_activations.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from fwilab.config.tasks import RenderSettings
from fwilab.diagnostics.snapshots import ActivationSnapshots, check_diagnostics
from fwilab.errors import ConfigError
from fwilab.tracking.run_logger import LocalImageLogger
from fwilab.training.trained_model import load_trained

log = logging.getLogger(__name__)


def render_checkpoint_sample(settings: RenderSettings, run_dir: str | Path) -> Path:
    """Render every hooked layer of ``settings.checkpoint`` for sample ``settings.sample`` of ``settings.split``.

    Pictures land in ``<run_dir>/activations/step_<checkpoint step>/``, named as during training.
    """
    check_diagnostics(settings.diagnostics, probe_samples=1)
    loaded = load_trained(settings.config)
    if not 0 <= settings.sample < len(loaded.dataset):
        raise ConfigError(
            f"sample={settings.sample} is outside {settings.split}, which holds samples 0..{len(loaded.dataset) - 1}"
        )
    seismic, velocity = loaded.dataset[settings.sample]
    inputs = loaded.normalizer.seismic(seismic[None].to(loaded.device))
    snapshots = ActivationSnapshots(
        loaded.model, inputs, velocity[None], loaded.normalizer, replace(settings.diagnostics, max_samples=1)
    )
    try:
        review, flags = snapshots.take()
    finally:
        snapshots.close()
    for flag in flags:
        log.warning("%s", flag)
    LocalImageLogger(run_dir).log_snapshot(review, loaded.step)
    folder = Path(run_dir) / "activations" / f"step_{loaded.step:06d}"
    log.info("rendered %d pictures of %s sample %d to %s", len(review.images), settings.split, settings.sample, folder)
    return folder
