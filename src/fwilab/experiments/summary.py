"""Summarize a multirun directory: one row per job, a markdown + CSV table and PNG charts.

Reads only what each job left in its directory (``.hydra/overrides.yaml``, ``config.yaml``,
``metrics.json``), so it works offline and on sweeps copied from other machines. A job that
crashed before writing metrics is listed with status ``missing``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from matplotlib.figure import Figure

from fwilab.errors import DataError
from fwilab.metric_registry import SWEEP_METRICS, metric_of

SUMMARIZED = tuple(f"{kind}_{metric}" for kind in ("best", "final") for metric in SWEEP_METRICS)  # best_mae, ...
COLUMNS = ("job", "overrides", "status", *SUMMARIZED, "best_mae_ms", "steps", "wall_time_s", "samples_per_s")
NUMERIC_COLUMNS = COLUMNS[3:]


@dataclass
class Job:
    """One job of a sweep, as its directory records it."""

    name: str
    overrides: list[str]
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.metrics.get("status", "missing")

    def value(self, kind: str, metric: str) -> float | None:
        section = self.metrics.get(kind) or {}
        return section.get(metric)

    def row(self, varying: set[str]) -> dict[str, Any]:
        history = self.metrics.get("val_history") or []
        losses = self.metrics.get("train_loss") or []
        steps = max([entry["step"] for entry in history] + [step for step, _ in losses] + [0])
        return {
            "job": self.name,
            "overrides": " ".join(o for o in self.overrides if o.split("=", 1)[0] in varying) or "(defaults)",
            "status": self.status,
            **{column: self.value(*column.split("_", 1)) for column in SUMMARIZED},
            "best_mae_ms": self.value("best", "mae_ms"),
            "steps": steps,
            "wall_time_s": self.metrics.get("wall_time_s"),
            "samples_per_s": self.metrics.get("train_samples_per_s"),
        }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error})") from None


def read_job(job_dir: Path, overrides: list[str]) -> Job:
    """A run directory as a ``Job``: its resolved config (or Hydra's) and its ``metrics.json``."""
    config_file = job_dir / "config.yaml" if (job_dir / "config.yaml").is_file() else job_dir / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    return Job(job_dir.name, overrides, config or {}, _read_json(job_dir / "metrics.json"))


def load_jobs(sweep_dir: str | Path) -> list[Job]:
    """Every job directory (one holding ``.hydra/overrides.yaml``) under ``sweep_dir``, in job order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(f"multirun directory {sweep_dir} does not exist")
    jobs = [
        read_job(overrides_file.parent.parent, yaml.safe_load(overrides_file.read_text()) or [])
        for overrides_file in sorted(
            sweep_dir.glob("*/.hydra/overrides.yaml"), key=lambda p: (len(p.parts[-3]), p.parts[-3])
        )
    ]
    if not jobs:
        raise DataError(f"{sweep_dir} holds no Hydra job directories (*/.hydra/overrides.yaml)")
    return jobs


def varying_keys(jobs: list[Job]) -> set[str]:
    """Override keys whose value (or absence) differs between jobs: the sweep's axes."""
    settings = [dict(o.split("=", 1) for o in job.overrides if "=" in o) for job in jobs]
    keys = {key for setting in settings for key in setting}
    return {key for key in keys if len({setting.get(key) for setting in settings}) > 1}


def summary_rows(jobs: list[Job], sort_by: str = "best_mae") -> list[dict[str, Any]]:
    """Table rows sorted by ``sort_by`` (best first); jobs without that metric go last."""
    if sort_by not in COLUMNS:
        raise DataError(f"cannot sort by {sort_by!r}; choose one of {', '.join(COLUMNS)}")
    varying = varying_keys(jobs)
    rows = [job.row(varying) for job in jobs]
    if sort_by not in NUMERIC_COLUMNS:
        return sorted(rows, key=lambda row: str(row[sort_by]))
    metric = metric_of(sort_by)  # steps, wall_time_s: none, ascending

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = row[sort_by]
        if value is None or math.isnan(value):
            return (1, 0.0)
        return (0, metric.rank_key(value) if metric else value)

    return sorted(rows, key=key)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(row[column]) for column in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def plot_validation_curves(jobs: list[Job], path: Path, metric: str = "mae") -> Path:
    """Validation ``metric`` against step, one line per job."""
    varying = varying_keys(jobs)
    figure = Figure(figsize=(8, 5))
    axes = figure.subplots()
    for job in jobs:
        history = job.metrics.get("val_history") or []
        if history:
            label = job.row(varying)["overrides"] + ("" if job.status == "completed" else f" [{job.status}]")
            axes.plot([h["step"] for h in history], [h[metric] for h in history], marker="o", label=label)
    axes.set_xlabel("step")
    axes.set_ylabel(f"validation {metric.upper()} (normalized)")
    axes.set_title(f"validation {metric.upper()} per job")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def plot_metric_vs_lr(jobs: list[Job], path: Path, metric: str = "mae") -> Path:
    """Best ``metric`` against learning rate (log axis), one line per optimizer; failed jobs marked x."""
    figure = Figure(figsize=(7, 5))
    axes = figure.subplots()
    by_optimizer: dict[str, list[tuple[float, float | None, str]]] = {}
    for job in jobs:
        optimizer = str((job.config.get("optimizer") or {}).get("_target_", "?")).rsplit(".", 1)[-1]
        if job.config.get("lr") is not None:
            by_optimizer.setdefault(optimizer, []).append(
                (float(job.config["lr"]), job.value("best", metric), job.status)
            )
    for optimizer, points in sorted(by_optimizer.items()):
        points.sort(key=lambda point: point[0])
        done = [(lr, value) for lr, value, status in points if value is not None and status == "completed"]
        line = axes.plot([lr for lr, _ in done], [value for _, value in done], marker="o", label=optimizer)[0]
        failed = [lr for lr, value, status in points if status != "completed"]
        if failed:
            top = max([v for _, v in done], default=1.0)
            axes.scatter(
                failed,
                [top] * len(failed),
                marker="x",
                s=80,
                color=line.get_color(),
                label=f"{optimizer} failed/diverged",
            )
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel(f"best validation {metric.upper()}")
    axes.set_title(f"best {metric.upper()} vs learning rate")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def summarize(sweep_dir: str | Path, sort_by: str = "best_mae", out: str | Path | None = None) -> dict[str, Path]:
    """Write summary.md, summary.csv, val_mae_curves.png and mae_vs_lr.png; returns their paths."""
    jobs = load_jobs(sweep_dir)
    rows = summary_rows(jobs, sort_by)
    out = Path(out) if out is not None else Path(sweep_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "summary.md", "csv": out / "summary.csv"}
    paths["markdown"].write_text(markdown_table(rows) + "\n")
    with open(paths["csv"], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    paths["curves"] = plot_validation_curves(jobs, out / "val_mae_curves.png")
    paths["lr"] = plot_metric_vs_lr(jobs, out / "mae_vs_lr.png")
    return paths
