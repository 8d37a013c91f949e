"""The logger a run asks for: run-directory PNGs, and a W&B run when ``logger.backend`` is 'wandb'."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from fwilab.logging.run_logger import FanOutLogger, LocalImageLogger, RunLogger


def build_logger(
    cfg: DictConfig,
    run_dir: str | Path,
    job_type: str,
    local_images: bool = True,
    run_id: str | None = None,
    best_summaries: dict[str, str] | None = None,
) -> FanOutLogger:
    """Local PNGs (unless the caller writes its own); W&B too when ``logger.backend`` is 'wandb' and it starts
    (``logger.backend`` is checked with the task's settings).

    ``job_type`` says what made the W&B run (train, loss_landscape, ...). ``run_id`` names it: a
    resumed training run passes the id it started with, so its history continues in the same W&B
    run. ``best_summaries`` ('val/ssim' -> 'max', ...) make those metrics' summaries their best values.
    """
    backends: list[RunLogger] = [LocalImageLogger(run_dir)] if local_images else []
    if cfg.logger.backend == "wandb":
        from fwilab.logging.wandb_run import start_wandb  # importing wandb costs a second: only when asked (no cycle)

        wandb_logger = start_wandb(cfg, Path(run_dir), job_type, run_id, best_summaries or {})
        if wandb_logger is not None:
            backends.append(wandb_logger)
    return FanOutLogger(backends)
