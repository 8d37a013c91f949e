"""Pictures of a saved model: every hooked layer for one chosen sample (render_activations.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from fwilab.config.tasks import RenderSettings
from fwilab.diagnostics.snapshots import ActivationSnapshots, check_diagnostics
from fwilab.errors import ConfigError
from fwilab.logging.run_logger import LocalImageLogger
from fwilab.tasks.evaluate import load_trained

log = logging.getLogger(__name__)


def render_checkpoint_sample(cfg: RenderSettings, run_dir: str | Path) -> Path:
    """Render every hooked layer of ``cfg.checkpoint`` for sample ``cfg.sample`` of ``cfg.split``.

    Pictures land in ``<run_dir>/activations/step_<checkpoint step>/``, named as during training.
    """
    check_diagnostics(cfg.diagnostics, probe_samples=1)
    loaded = load_trained(cfg.config)
    if not 0 <= cfg.sample < len(loaded.dataset):
        raise ConfigError(
            f"sample={cfg.sample} is outside {cfg.split}, which holds samples 0..{len(loaded.dataset) - 1}"
        )
    seismic, velocity = loaded.dataset[cfg.sample]
    inputs = loaded.normalizer.seismic(seismic[None].to(loaded.device))
    snapshots = ActivationSnapshots(
        loaded.model, inputs, velocity[None], loaded.normalizer, replace(cfg.diagnostics, max_samples=1)
    )
    try:
        review, flags = snapshots.take()
    finally:
        snapshots.close()
    for flag in flags:
        log.warning("%s", flag)
    LocalImageLogger(run_dir).log_snapshot(review, loaded.step)
    folder = Path(run_dir) / "activations" / f"step_{loaded.step:06d}"
    log.info("rendered %d pictures of %s sample %d to %s", len(review.images), cfg.split, cfg.sample, folder)
    return folder
