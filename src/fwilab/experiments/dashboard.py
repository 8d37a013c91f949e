"""A W&B report for one sweep or one run, built with W&B's own ``wandb-workspaces`` library (dashboard.py).

The report reads the sweep directory, or a single run directory as review.py does (``review_jobs``), so it knows the swept keys, the hooked
layers and the pictures without asking W&B. It holds: validation MAE / SSIM and training-loss
curves (runs grouped by the swept model or optimizer), a parallel-coordinates panel from the swept
keys to the best MAE, the baseline comparison when the sweep has one, one chart per activation
statistic with every hooked layer, and media panels for the activation pictures and velocity panels.

Online (``WANDB_MODE=online`` after ``wandb login``) the report is saved and its URL printed.
Offline, with ``--dry-run``, or when saving fails or takes longer than ``timeout_s``, the report's
specification is written as JSON; ``dashboard.py --push FILE`` saves it later from a machine
with network.
"""

from __future__ import annotations

import logging
import os
import threading
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wandb_workspaces.reports.v2 as wr
from wandb_workspaces.reports.v2 import internal

from fwilab.errors import DataError
from fwilab.experiments.review import review_jobs
from fwilab.experiments.summary import Job, varying_keys
from fwilab.io import atomic_write
from fwilab.tracking.run_logger import read_statistics
from fwilab.tracking.wandb_run import sweep_group, wandb_mode

log = logging.getLogger(__name__)
GROUPING_KEYS = ("model", "optimizer")  # what the curves group by, first swept one wins
PICTURE_KINDS = ("pca_rgb", "montage")


@dataclass
class SweepFacts:
    """What the report needs to know about a sweep, read from its directory."""

    group: str
    project: str
    entity: str
    columns: list[str]  # config keys of the swept settings, as W&B stores the run config
    grouping: str | None  # config key the curves group by
    statistics: dict[str, list[str]]  # statistic -> hooked layers that report it
    comparison_markdown: str | None
    velocity_keys: list[str]
    filters: str | None = None  # which W&B runs the panels show; None: the runs of ``group``

    @property
    def run_filter(self) -> str:
        return self.filters or f"Group = '{self.group}'"


def group_facts(group: str, project: str, entity: str) -> SweepFacts:
    """A W&B group known only by name: curves and best MAE; swept keys, layers and pictures need the sweep directory."""
    return SweepFacts(group, project, entity, [], None, {}, None, [])


def sweep_facts(sweep_dir: str | Path) -> SweepFacts:
    """The W&B group, project, swept config keys, layers and pictures of the sweep in ``sweep_dir``.

    A single run directory (one holding ``metrics.json``) gives the report of that one W&B run.
    """
    sweep_dir = Path(sweep_dir)
    found = review_jobs(sweep_dir)
    jobs, job_dirs = [job for job, _ in found], [directory for _, directory in found]
    logger = jobs[0].config.get("logger") or {}
    columns = [_config_key(job_key, jobs) for job_key in sorted(varying_keys(jobs))]
    columns = [column for column in columns if column is not None]
    grouping = next((column for key in GROUPING_KEYS for column in columns if column.split(".", 1)[0] == key), None)
    comparison = sweep_dir / "comparison.md"
    single_run = (sweep_dir / "metrics.json").is_file()
    run_id = jobs[0].metrics.get("wandb_run_id")
    if single_run and not run_id:
        raise DataError(f"{sweep_dir / 'metrics.json'} names no W&B run (wandb_run_id)")
    return SweepFacts(
        group=f"run-{run_id}" if single_run else logger.get("group") or sweep_group(sweep_dir.resolve()),
        project=logger.get("project") or "fwilab",
        entity=logger.get("entity") or "",
        columns=columns,
        grouping=grouping,
        statistics=_layer_statistics(job_dirs),
        comparison_markdown=comparison.read_text() if comparison.is_file() else None,
        velocity_keys=sorted(
            {
                f"velocity/{path.stem.removeprefix('velocity_')}"
                for job_dir in job_dirs
                for path in job_dir.glob("activations/step_*/velocity_*.png")
            }
        ),
        filters=f"ID = '{run_id}'" if single_run else None,
    )


def _config_key(override_key: str, jobs: list[Job]) -> str | None:
    """'lr' -> 'lr'; a config group such as 'optimizer' or 'model' -> its '_target_' (data -> 'data.family')."""
    key = override_key.lstrip("+~")
    value = jobs[0].config.get(key)
    if isinstance(value, dict):
        for leaf in ("_target_", "family"):
            if leaf in value:
                return f"{key}.{leaf}"
        return None
    return key if "." in key or key in jobs[0].config else None


def _layer_statistics(job_dirs: list[Path]) -> dict[str, list[str]]:
    """statistic -> layers, from every job's ``activations/statistics.csv``, in first-seen order."""
    found: dict[str, dict[str, None]] = {}
    for job_dir in job_dirs:
        for layers in read_statistics(job_dir).values():
            for layer, numbers in layers.items():
                for statistic in numbers:
                    found.setdefault(statistic, {})[layer] = None
    return {statistic: list(layers) for statistic, layers in found.items()}


def build_report(facts: SweepFacts, title: str) -> wr.Report:
    """The report's blocks for one sweep (no network: nothing is looked up on W&B)."""
    # the runs' entity is filled in when the report is saved (``save_online``): naming it here makes
    # wandb-workspaces look the project up on the server, which an offline specification must not need
    runset = [wr.Runset(project=facts.project, name=facts.group, filters=facts.run_filter)]
    groupby = (
        {"groupby": wr.Config(facts.grouping), "groupby_aggfunc": "mean", "groupby_rangefunc": "minmax"}
        if facts.grouping
        else {}
    )
    curves = [
        wr.LinePlot(title=title_, x="Step", y=[key], **groupby)
        for title_, key in (
            ("validation MAE", "val/mae"),
            ("validation SSIM", "val/ssim"),
            ("training loss", "train/loss"),
        )
    ]
    coordinates = wr.ParallelCoordinatesPlot(
        title="swept settings -> best MAE",
        columns=[wr.ParallelCoordinatesPlotColumn(metric=wr.Config(column)) for column in facts.columns]
        + [wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric("best/mae"))],
    )
    blocks: list[Any] = [
        wr.P(f"W&B runs where {facts.run_filter}: swept {', '.join(facts.columns) or 'nothing'}."),
        wr.H2("Validation"),
        wr.PanelGrid(runsets=runset, panels=[*curves, coordinates]),
    ]
    if facts.comparison_markdown:
        blocks += [wr.H2("Baseline comparison"), wr.MarkdownBlock(text=facts.comparison_markdown)]
    if facts.statistics:
        blocks += [
            wr.H2("Activation statistics per layer"),
            wr.PanelGrid(
                runsets=runset,
                panels=[
                    wr.LinePlot(title=statistic, x="Step", y=[f"activations/{layer}/{statistic}" for layer in layers])
                    for statistic, layers in facts.statistics.items()
                ],
            ),
        ]
    layers = list(dict.fromkeys(layer for layers in facts.statistics.values() for layer in layers))
    media = [
        wr.MediaBrowser(title=kind, media_keys=[f"activations/{layer}/{kind}" for layer in layers], gallery_axis="step")
        for kind in PICTURE_KINDS
        if layers
    ]
    if facts.velocity_keys:
        media.append(wr.MediaBrowser(title="velocity panels", media_keys=facts.velocity_keys, gallery_axis="step"))
    if media:
        blocks += [wr.H2("Pictures"), wr.PanelGrid(runsets=runset, panels=media)]
    return wr.Report(project=facts.project, entity=facts.entity, title=title, blocks=blocks)


def report_specification(report: wr.Report) -> str:
    """The report as the JSON W&B stores (its view spec), to save later with ``load_specification``."""
    return report._to_model().model_dump_json(by_alias=True, exclude_none=True, indent=1)


def load_specification(path: str | Path) -> wr.Report:
    """A report written by ``report_specification``."""
    path = Path(path)
    try:
        return wr.Report._from_model(internal.ReportViewspec.model_validate_json(path.read_text()))
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path} is not a report specification written by dashboard.py ({str(error).splitlines()[0]})"
        ) from None


def save_online(report: wr.Report, timeout_s: float) -> str:
    """Save ``report`` to W&B and return its URL; raises if that fails or takes longer than ``timeout_s``."""
    outcome: dict[str, Any] = {}

    def save() -> None:
        try:
            online = deepcopy(report)  # ``report`` stays free of server look-ups, for the offline fallback
            online.entity = online.entity or wr.interface._get_api().default_entity
            for block in online.blocks:
                for runset in getattr(block, "runsets", []):
                    runset.entity = online.entity
            outcome["url"] = online.save().url
        except Exception as error:  # no network, no login, a W&B error: reported by the caller
            outcome["error"] = error

    worker = threading.Thread(target=save, daemon=True)  # a daemon: a hung request cannot keep the program alive
    worker.start()
    worker.join(timeout_s)
    if "url" in outcome:
        return outcome["url"]
    raise TimeoutError(f"no answer from W&B in {timeout_s:g} s") if worker.is_alive() else outcome["error"]


def publish(report: wr.Report, out: Path, dry_run: bool, timeout_s: float = 60.0) -> tuple[str, str]:
    """('url', URL) when saved online; otherwise ('file', path of the written specification)."""
    online = wandb_mode(os.environ.get("WANDB_MODE")) == "online" and not dry_run  # W&B's settings, as a run
    if online:
        try:
            return "url", save_online(report, timeout_s)
        except Exception as error:
            log.warning(
                "saving the report to W&B failed (%s); writing its specification instead", str(error).splitlines()[0]
            )
    specification = report_specification(report).encode()
    atomic_write(out, lambda handle: handle.write(specification))
    return "file", str(out)
