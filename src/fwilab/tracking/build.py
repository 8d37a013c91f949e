"""The logger a run asks for: run-directory PNGs, and a W&B run when ``logger.backend`` is 'wandb'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from fwilab.tracking.run_logger import FanOutLogger, LocalImageLogger, RunLogger


def build_logger(
    settings: DictConfig,
    run_dir: str | Path,
    job_type: str,
    tags: Sequence[str],
    config: Mapping[str, Any],
    local_images: bool = True,
    run_id: str | None = None,
    best_summaries: dict[str, str] | None = None,
) -> FanOutLogger:
    """Local PNGs (unless the caller writes its own); W&B too when ``settings.backend`` is 'wandb' and it starts
    (``logger.backend`` is checked with the task's settings).

    ``settings`` is the ``logger`` config group. The caller says what made the W&B run (``job_type``:
    train, evaluate, ...), what it is about (``tags``, before the configured ``logger.tags``) and what
    it records as the run's ``config``, so any task's config fits. ``run_id`` names the run: a resumed
    training run passes the id it started with, so its history continues in the same W&B run.
    ``best_summaries`` ('val/ssim' -> 'max', ...) make those metrics' summaries their best values.
    """
    backends: list[RunLogger] = [LocalImageLogger(run_dir)] if local_images else []
    if settings.backend == "wandb":
        from fwilab.tracking.wandb_run import start_wandb  # importing wandb costs a second: only when asked (no cycle)

        wandb_logger = start_wandb(settings, Path(run_dir), job_type, tags, config, run_id, best_summaries or {})
        if wandb_logger is not None:
            backends.append(wandb_logger)
    return FanOutLogger(backends)
