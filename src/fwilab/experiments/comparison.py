"""Candidate methods (a model trained with an objective) against a baseline, by default supervised InversionNet:
same split, same budget, several seeds.

Reads a finished multirun (one job per model x objective x seed), compares *final* validation metrics (the
same budget for every model; the best-on-validation value would reward the model that happened
to peak on the validation set), and pairs the runs by seed: for each candidate and metric, the
per-seed difference to the baseline, its mean and standard deviation, and a paired t-test.
Writes ``comparison.md``, ``comparison.json`` and ``comparison.png`` into the sweep directory,
and a W&B table when the sweep logs to W&B. Runs by itself at the end of
``python scripts/train.py -m experiment=baseline_comparison`` (a Hydra callback).
"""

from __future__ import annotations

import logging
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import wandb
from hydra.experimental.callback import Callback
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from scipy import stats

from fwilab.data_contract import SEISMIC_SHAPE
from fwilab.errors import DataError
from fwilab.experiments.summary import Job, load_jobs
from fwilab.io import write_json
from fwilab.metric_registry import COMPARED_METRICS, REGISTRY, SWEEP_METRICS, heading
from fwilab.models.flops import forward_flops
from fwilab.plotting import figure_to_rgb
from fwilab.tracking.wandb_run import init_wandb_run, sweep_group

log = logging.getLogger(__name__)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def method_label(config: dict[str, Any]) -> str:
    """What a run trained, as the comparison names it: the model's class, then ``+<objective>`` unless the objective
    is supervised (``InversionNet``, ``InversionNet+velocitygan``). A config from before the objective group trained
    supervised."""
    model = str(config["model"]["_target_"]).rsplit(".", 1)[-1]
    objective = (config.get("objective") or {}).get("name", "supervised")
    return model if objective == "supervised" else f"{model}+{objective}"


def compare_models(jobs: list[Job], baseline: str = "InversionNet") -> dict[str, Any]:
    """Per-method (model x objective: ``method_label``) statistics over seeds and the paired differences of every
    candidate to ``baseline``."""
    by_model: dict[str, dict[int, Job]] = {}
    failed = []
    for job in jobs:
        if job.status != "completed":
            failed.append({"job": job.name, "overrides": job.overrides, "status": job.status})
            continue
        name = method_label(job.config)
        by_model.setdefault(name, {})[int(job.config["seed"])] = job
    if baseline not in by_model:
        raise DataError(f"no completed {baseline} run in the sweep (models found: {sorted(by_model) or 'none'})")
    models = {}
    for name, runs in by_model.items():
        first = next(iter(runs.values()))
        models[name] = {
            "seeds": sorted(runs),
            "parameters": first.metrics.get("parameters"),
            "forward_gflops_per_sample": forward_flops(OmegaConf.create(first.config["model"]), SEISMIC_SHAPE) / 1e9,
            "train_samples_per_s": _mean_std([run.metrics["train_samples_per_s"] for run in runs.values()]),
            **{metric: _mean_std([run.value("final", metric) for run in runs.values()]) for metric in COMPARED_METRICS},
        }
    differences = {}
    for name, runs in by_model.items():
        if name == baseline:
            continue
        seeds = sorted(set(runs) & set(by_model[baseline]))
        differences[name] = {"paired_seeds": seeds}
        for metric in COMPARED_METRICS:
            candidate = [runs[s].value("final", metric) for s in seeds]
            reference = [by_model[baseline][s].value("final", metric) for s in seeds]
            diffs = [c - r for c, r in zip(candidate, reference)]
            test = stats.ttest_rel(candidate, reference) if len(seeds) > 1 and np.std(diffs) > 0 else None
            differences[name][metric] = {
                "mean_difference": statistics.fmean(diffs) if diffs else math.nan,
                "std_difference": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
                "t": float(test.statistic) if test is not None else None,
                "p_value": float(test.pvalue) if test is not None else None,
                "better_in": sum(REGISTRY[metric].improves_on(c, r) for c, r in zip(candidate, reference)),
            }
    return {"baseline": baseline, "models": models, "differences": differences, "failed_jobs": failed}


def _pm(pair: tuple[float, float], spec: str) -> str:
    return f"{pair[0]:{spec}} ± {pair[1]:{spec}}"


def _favouring() -> str:
    """'negative MAE/RMSE and positive SSIM': the sign of a difference that favours the candidate, per metric."""
    lower = "/".join(REGISTRY[name].label for name in SWEEP_METRICS if not REGISTRY[name].higher_is_better)
    higher = "/".join(REGISTRY[name].label for name in SWEEP_METRICS if REGISTRY[name].higher_is_better)
    return f"negative {lower} and positive {higher}"


def markdown_report(report: dict[str, Any]) -> str:
    baseline = report["baseline"]
    lines = [
        f"# Baseline comparison (baseline: {baseline})",
        "",
        "Final validation metrics, mean ± std over seeds (MAE and RMSE on velocity normalized to [-1, 1]).",
        "",
        "| model | seeds | parameters | forward GFLOP/sample | train samples/s | "
        + " | ".join(heading(name) for name in COMPARED_METRICS)
        + " |",
        "|---|---|---:|---:|---:|" + "---|" * len(COMPARED_METRICS),
    ]
    for name, model in report["models"].items():
        lines.append(
            f"| {name} | {len(model['seeds'])} | {model['parameters']:,} | {model['forward_gflops_per_sample']:.2f} | "
            f"{_pm(model['train_samples_per_s'], REGISTRY['samples_per_s'].spec)} | "
            + " | ".join(_pm(model[name], REGISTRY[name].spec) for name in COMPARED_METRICS)
            + " |"
        )
    lines += [
        "",
        f"Paired by seed, candidate − {baseline} ({_favouring()} favour the candidate):",
        "",
    ]
    lines += [
        "| candidate | metric | mean difference | std | t | p | seeds where candidate is better |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, difference in report["differences"].items():
        for metric in COMPARED_METRICS:
            d = difference[metric]
            t = "—" if d["t"] is None else f"{d['t']:.2f}"
            p = "—" if d["p_value"] is None else f"{d['p_value']:.3g}"
            lines.append(
                f"| {name} | {metric} | {d['mean_difference']:+.4f} | {d['std_difference']:.4f} | {t} | {p} | "
                f"{d['better_in']}/{len(difference['paired_seeds'])} |"
            )
    if report["failed_jobs"]:
        lines += [
            "",
            "Jobs left out (not completed): " + "; ".join(f"{j['job']} ({j['status']})" for j in report["failed_jobs"]),
        ]
    return "\n".join(lines) + "\n"


def bar_chart(report: dict[str, Any], path: Path) -> np.ndarray:
    """MAE, RMSE and SSIM per model with one-std error bars; also saved to ``path``."""
    figure = Figure(figsize=(9, 3.5))
    names = list(report["models"])
    for index, metric in enumerate(SWEEP_METRICS):
        axes = figure.add_subplot(1, 3, index + 1)
        means = [report["models"][n][metric][0] for n in names]
        errors = [report["models"][n][metric][1] for n in names]
        axes.bar(names, means, yerr=errors, capsize=6, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(names)])
        axes.set_title(f"final {REGISTRY[metric].label}")
        axes.tick_params(axis="x", labelrotation=15)
        axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    pixels = figure_to_rgb(figure)
    Image.fromarray(pixels).save(path)
    return pixels


def _log_to_wandb(config: DictConfig, sweep_dir: Path, report: dict[str, Any], chart: np.ndarray) -> None:
    run = init_wandb_run(
        config.logger, sweep_dir, "comparison", group=sweep_group(sweep_dir), name="baseline_comparison"
    )
    columns = [
        "model",
        "seeds",
        "parameters",
        "gflops",
        "samples_per_s",
        *(f"{metric}{part}" for metric in SWEEP_METRICS for part in ("", "_std")),
    ]
    rows = [
        [
            name,
            len(m["seeds"]),
            m["parameters"],
            m["forward_gflops_per_sample"],
            m["train_samples_per_s"][0],
            *(value for metric in SWEEP_METRICS for value in m[metric]),
        ]
        for name, m in report["models"].items()
    ]
    run.log({"comparison/table": wandb.Table(columns=columns, data=rows), "comparison/chart": wandb.Image(chart)})
    run.finish()


def write_comparison(
    sweep_dir: str | Path, baseline: str = "InversionNet", config: DictConfig | None = None
) -> dict[str, Any]:
    """Build the report of a finished sweep and write it next to the jobs."""
    sweep_dir = Path(sweep_dir)
    report = compare_models(load_jobs(sweep_dir), baseline)
    write_json(sweep_dir / "comparison.json", report)
    (sweep_dir / "comparison.md").write_text(markdown_report(report))
    chart = bar_chart(report, sweep_dir / "comparison.png")
    if config is not None and config.logger.backend == "wandb":
        try:
            _log_to_wandb(config, sweep_dir, report, chart)
        except Exception as error:  # the report on disk is what matters; W&B is a copy
            log.warning("comparison not logged to W&B (%s)", error)
    return report


class ComparisonReport(Callback):
    """Hydra callback: writes the comparison when the multirun ends."""

    def __init__(self, baseline: str = "InversionNet"):
        self.baseline = baseline

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            report = write_comparison(sweep_dir, self.baseline, config)
        except DataError as error:
            log.error("no comparison report: %s", error)
            return
        log.info(
            "comparison of %s against %s: %s", ", ".join(report["models"]), self.baseline, sweep_dir / "comparison.md"
        )
