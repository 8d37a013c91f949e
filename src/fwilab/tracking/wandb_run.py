"""Weights & Biases runs: offline unless the user configured online, never blocking training.

The run lives in the Hydra run directory (``<run_dir>/wandb/``). In a multirun every job joins
one group named after the sweep, so a sweep compares on one dashboard; a job is named after its
overrides. Every run says what made it (``job_type``); the project and entity come from
``WANDB_PROJECT`` / ``WANDB_ENTITY`` unless the config names them (``conf/logger/wandb.yaml``); the
console is captured (W&B's Logs tab). An offline run can be synced later with
``wandb sync <run_dir>/wandb/offline-run-*``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import wandb
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fwilab.tracking.run_logger import RunLogger, SnapshotLog

log = logging.getLogger(__name__)


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group shared by every run of one sweep: 'sweep-<date>_<time>' for Hydra's default layout."""
    return "sweep-" + "_".join(Path(sweep_dir).parts[-2:])


def run_identity(settings: DictConfig, run_dir: Path, tags: Sequence[str]) -> dict[str, Any]:
    """Group, name and tags of the W&B run, from the Hydra job when there is one; the caller's ``tags`` first."""
    group, name = settings.get("group"), settings.get("name")
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        if group is None and hydra_cfg.mode == RunMode.MULTIRUN:
            group = sweep_group(hydra_cfg.sweep.dir)
        if name is None:
            name = hydra_cfg.job.override_dirname or "defaults"
    return {"group": group, "name": name or run_dir.name, "tags": [*tags, *settings.tags]}


class WandbLogger(RunLogger):
    """Forwards the loop's metrics, pictures, summary and best checkpoint to one W&B run."""

    def __init__(self, run: Any, log_checkpoint: bool):
        self.run = run
        self.log_checkpoint_enabled = log_checkpoint

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        self.run.log({key: wandb.Image(image) for key, image in images.items()}, step=step)

    def log_snapshot(self, snapshot: SnapshotLog, step: int) -> None:
        """Pictures, per-layer numbers (charted over steps) and histograms in one history row."""
        self.run.log(
            {
                **{key: wandb.Image(image) for key, image in snapshot.images.items()},
                **snapshot.scalars,
                **{key: wandb.Histogram(np_histogram=histogram) for key, histogram in snapshot.histograms.items()},
            },
            step=step,
        )

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        self.run.log({key: wandb.Table(columns=columns, data=rows)}, step=step)

    def log_summary(self, summary: dict[str, Any]) -> None:
        for key, value in summary.items():
            self.run.summary[key] = value

    def log_checkpoint(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        if self.log_checkpoint_enabled and path.is_file():
            artifact = wandb.Artifact(name, type="model", metadata=metadata)
            artifact.add_file(str(path))
            self.run.log_artifact(artifact, aliases=aliases)

    def finish(self, status: str) -> None:
        """Completed: exit code 0. Preempted or interrupted (Ctrl-C), both resumable: marked preempting first, so
        W&B shows the run preempted, not failed; the summary's ``status`` says which."""
        self.run.summary["status"] = status
        if status in ("preempted", "interrupted"):
            self.run.mark_preempting()
        self.run.finish(exit_code=0 if status == "completed" else 1)


def init_wandb_run(settings: DictConfig, directory: Path, job_type: str, **identity: Any) -> Any:
    """``wandb.init`` with the ``logger`` config's project, entity, mode and time-out; files under ``directory``."""
    return wandb.init(
        project=settings.project,
        entity=settings.get("entity"),
        mode=settings.mode,
        dir=str(directory),
        job_type=job_type,
        settings=wandb.Settings(init_timeout=settings.init_timeout_s, console="wrap", silent=True),
        reinit="finish_previous",
        **identity,
    )


def start_wandb(
    settings: DictConfig,
    run_dir: Path,
    job_type: str,
    tags: Sequence[str],
    config: Mapping[str, Any],
    run_id: str | None,
    best_summaries: Mapping[str, str],
) -> WandbLogger | None:
    """A started W&B run, or None (with one warning) when wandb cannot start: training goes on.

    With ``run_id`` the run continues (``resume="allow"``) the W&B run of that id, if there is one.
    Each metric of ``best_summaries`` keeps its best value ('min' or 'max') as its summary, not its last.
    """
    resume = {"id": run_id, "resume": "allow"} if run_id else {}
    try:
        run = init_wandb_run(
            settings,
            run_dir,
            job_type,
            config=dict(config),
            **resume,
            **run_identity(settings, run_dir, tags),
        )
        for metric, best in best_summaries.items():
            run.define_metric(metric, summary=best)
    except Exception as error:  # no network, bad key, broken install: log locally instead
        log.warning(
            "W&B did not start (%s); logging to the run directory only",
            str(error).splitlines()[0] if str(error) else type(error).__name__,
        )
        return None
    return WandbLogger(run, bool(settings.log_checkpoint))
