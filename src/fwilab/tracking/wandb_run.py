"""Weights & Biases runs: offline unless W&B's own settings say otherwise, never blocking training.

The run lives in the Hydra run directory (``<run_dir>/wandb/``), its model artifact's file too, so the
directory syncs on its own. The mode is W&B's: ``logger.mode`` (``WANDB_MODE``), else the ``mode`` that
``wandb offline`` / ``wandb online`` / ``wandb disabled`` keep in W&B's settings files, else offline (written
to the workspace settings file as ``wandb offline`` does, so ``wandb online`` undoes it). In a multirun every
job joins one group named after the sweep, so a sweep compares on one dashboard; a job is named after its swept
settings. Every run says what made it (``job_type``); the project and entity come from ``WANDB_PROJECT`` /
``WANDB_ENTITY`` unless the config names them (``conf/logger/wandb.yaml``); the console is captured (W&B's Logs
tab). An offline run logs its id and the ``wandb sync`` command that uploads it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import wandb
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fwilab.io import atomic_write
from fwilab.tracking.run_logger import RunLogger, SnapshotLog

log = logging.getLogger(__name__)

OFFLINE_DEFAULT = "[default]\nmode = offline\n\n"  # the settings file `wandb offline` writes


def _wandb_settings() -> wandb.Settings:
    """Where W&B looks for its settings files: ``$WANDB_DIR`` (else the working directory) ``/wandb/settings``, over
    ``$WANDB_CONFIG_DIR`` (else ``~/.config/wandb``) ``/settings``, as ``wandb.init`` and the ``wandb`` command do."""
    config_dir = Path(os.environ.get("WANDB_CONFIG_DIR") or "~/.config/wandb").expanduser()
    return wandb.Settings(
        root_dir=os.environ.get("WANDB_DIR") or os.getcwd(), settings_system=str(config_dir / "settings")
    )


def wandb_mode(configured: str | None) -> str:
    """The mode a run gets, in W&B's order: ``configured`` (``logger.mode``: the command line or ``WANDB_MODE``);
    else the ``mode`` W&B's settings files keep (``wandb offline`` / ``wandb disabled``; the workspace file over the
    global one); else online where the workspace file exists without one (``wandb online`` clears it: W&B's default);
    else offline, written to the workspace file as ``wandb offline`` writes it, so that ``wandb online`` undoes it."""
    if configured:
        return configured
    settings = _wandb_settings()
    files = settings.read_system_settings().all()
    if "mode" in files:
        return files["mode"]
    workspace = Path(settings.settings_workspace)
    if workspace.is_file():
        return "online"
    try:
        atomic_write(workspace, lambda handle: handle.write(OFFLINE_DEFAULT.encode()))
        log.info("W&B is offline: kept in %s (`wandb online` in %s streams runs)", workspace, workspace.parent.parent)
    except OSError as error:  # a read-only working directory: offline for this run only
        log.info("W&B is offline (%s not written: %s)", workspace, error)
    return "offline"


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group shared by every run of one sweep: 'sweep-<date>_<time>' for Hydra's default layout."""
    return "sweep-" + "_".join(Path(sweep_dir).parts[-2:])


def swept_keys(hydra_cfg: DictConfig) -> set[str]:
    """The keys a multirun varies: its sweeper's ``params`` and the command line's sweeps (``lr=1e-3,1e-4``), which
    Hydra's basic sweeper saves in ``<sweep dir>/multirun.yaml`` before it launches a job."""
    keys = set(hydra_cfg.sweeper.get("params") or {})
    saved = Path(hydra_cfg.sweep.dir) / "multirun.yaml"
    if saved.is_file():
        arguments = OmegaConf.to_container(OmegaConf.load(saved).hydra.overrides.task)  # as typed: unresolved
        keys |= {o.key_or_group for o in OverridesParser.create().parse_overrides(arguments) if o.is_sweep_override()}
    return keys


def job_name(hydra_cfg: DictConfig) -> str | None:
    """A sweep's job by its swept settings ('lr=0.001,seed=1'); a single run by its overrides; None when nothing
    tells it apart."""
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return hydra_cfg.job.override_dirname or "defaults"
    swept = swept_keys(hydra_cfg)
    overrides = OverridesParser.create().parse_overrides(list(hydra_cfg.overrides.task))
    return ",".join(o.input_line for o in overrides if o.key_or_group in swept) or None


def run_identity(settings: DictConfig, run_dir: Path, tags: Sequence[str]) -> dict[str, Any]:
    """Group, name and tags of the W&B run, from the Hydra job when there is one; the caller's ``tags`` first."""
    group, name = settings.get("group"), settings.get("name")
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        if group is None and hydra_cfg.mode == RunMode.MULTIRUN:
            group = sweep_group(hydra_cfg.sweep.dir)
        if name is None:
            name = job_name(hydra_cfg)
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

    def _model_artifact(self, path: Path, name: str, metadata: dict[str, Any]) -> wandb.Artifact:
        """The model artifact of the file ``path``, staged in this run's own W&B folder rather than in W&B's data
        folder (``~/.local/share/wandb``), so that the run directory holds everything ``wandb sync`` uploads."""
        staged = Path(self.run.settings.sync_dir) / "artifacts" / name / path.name
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, staged)
        artifact = wandb.Artifact(name, type="model", metadata=metadata)
        artifact.add_file(str(staged), name=path.name, policy="immutable")  # the staged copy is never written again
        return artifact

    def log_checkpoint(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        if self.log_checkpoint_enabled and path.is_file():
            self.run.log_artifact(self._model_artifact(path, name, metadata), aliases=aliases)

    def use_model(self, path: Path, name: str) -> None:
        """Declare the model artifact ``name`` (the file ``path``) this run's input: W&B's lineage from the training
        run. The same file has the same digest, so W&B finds the training run's version. Offline, where
        ``use_artifact`` refuses, the artifact is recorded as W&B's ``use_artifact`` records a new one online:
        logged, and used once ``wandb sync`` commits it."""
        artifact = self._model_artifact(path, name, {})
        if self.run.offline:
            self.run._log_artifact(artifact, use_after_commit=True)
        else:
            self.run.use_artifact(artifact)

    def finish(self, status: str) -> None:
        """Completed: exit code 0. Preempted or interrupted (Ctrl-C), both resumable: marked preempting first, so
        W&B shows the run preempted, not failed; the summary's ``status`` says which."""
        self.run.summary["status"] = status
        if status in ("preempted", "interrupted"):
            self.run.mark_preempting()
        self.run.finish(exit_code=0 if status == "completed" else 1)


def init_wandb_run(settings: DictConfig, directory: Path, job_type: str, **identity: Any) -> Any:
    """``wandb.init`` with the ``logger`` config's project, entity and time-out and W&B's mode (``wandb_mode``);
    files under ``directory``. An offline run logs its id and the command that uploads it."""
    run = wandb.init(
        project=settings.project,
        entity=settings.get("entity"),
        mode=wandb_mode(settings.get("mode")),
        dir=str(directory),
        job_type=job_type,
        settings=wandb.Settings(init_timeout=settings.init_timeout_s, console="wrap", silent=True),
        reinit="finish_previous",
        **identity,
    )
    if run.offline:
        log.info("W&B run %s is offline; upload it with: wandb sync %s", run.id, run.settings.sync_dir)
    return run


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
