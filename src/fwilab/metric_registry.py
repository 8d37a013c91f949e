"""Every metric fwilab reports, in one table: its name, unit, which way it improves and how it is printed.

The record's best checkpoint, W&B's best-value summaries, the sweep summary's ranking, the baseline
comparison's "better in" count, the log lines and the reports read it, so each of these facts is
stated here and nowhere else. Directions follow OpenFWI's tables: errors lower, SSIM higher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One reported quantity: ``name`` is its key in ``metrics.json`` (and W&B's, under ``val/``)."""

    name: str
    label: str  # how log lines and tables name it
    unit: str  # '' when dimensionless; 'normalized' is velocity on OpenFWI's [-1, 1] scale
    higher_is_better: bool
    spec: str  # format spec of its value

    def improves_on(self, value: float, reference: float) -> bool:
        """Whether ``value`` is strictly better than ``reference``."""
        return value > reference if self.higher_is_better else value < reference

    def rank_key(self, value: float) -> float:
        """Sort key that puts the best value first."""
        return -value if self.higher_is_better else value

    def show(self, value: float) -> str:
        return format(value, self.spec)


REGISTRY: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("mae", "MAE", "normalized", False, ".4f"),
        Metric("mse", "MSE", "normalized²", False, ".5f"),
        Metric("rmse", "RMSE", "normalized", False, ".4f"),
        Metric("ssim", "SSIM", "", True, ".4f"),
        Metric("mae_ms", "MAE", "m/s", False, ".1f"),
        Metric("rmse_ms", "RMSE", "m/s", False, ".1f"),
        Metric("loss", "loss", "", False, ".4f"),
        Metric("data_misfit", "data misfit", "relative L2", False, ".4f"),
        Metric("samples_per_s", "samples/s", "samples/s", True, ".1f"),
    )
}
# What a validation reports (training.metrics.MetricAccumulator), and trainer.monitor's choices:
VALIDATION_METRICS = ("mae", "mse", "rmse", "ssim", "mae_ms", "rmse_ms")
SWEEP_METRICS = ("mae", "rmse", "ssim")  # what a sweep summary tabulates (best and final) and a comparison charts
COMPARED_METRICS = (*SWEEP_METRICS, "mae_ms")  # what the baseline comparison tests, paired by seed
# The order log lines give them in; a group is one quantity, its first metric named, the others in their units:
VALIDATION_LINE = (("mae", "mae_ms"), ("rmse",), ("ssim",))  # training's, then the data misfit when measured
EVALUATION_LINE = (("mae", "mae_ms"), ("mse",), ("rmse", "rmse_ms"), ("ssim",))  # evaluate.py's
REFINEMENT_COLUMNS = ("mae", "mae_ms", "ssim", "data_misfit_mean", "data_misfit_median")  # refine.py's table
STATISTICS = ("mean", "median")  # per-sample values summarized: 'data_misfit_mean'


def metric_of(key: str) -> Metric | None:
    """The metric a result key or column reports: 'best_mae' and 'final_mae' are mae, 'data_misfit_median' is
    data_misfit; None for keys that are no metric (steps, wall_time_s)."""
    name = key.removeprefix("best_").removeprefix("final_")
    for statistic in STATISTICS:
        name = name.removesuffix(f"_{statistic}")
    return REGISTRY.get(name)


def heading(key: str) -> str:
    """A table column's heading: the label ('MAE'), with the unit where an earlier metric has the same label
    ('MAE m/s'), and the statistic of a summarized key ('data misfit median')."""
    metric = metric_of(key)
    if metric is None:
        return key
    first = next(m for m in REGISTRY.values() if m.label == metric.label)
    statistic = next((f" {s}" for s in STATISTICS if key.endswith(f"_{s}")), "")
    return metric.label + ("" if first is metric else f" {metric.unit}") + statistic


def format_table(rows: Sequence[Mapping[str, Any]], name_column: str, columns: Sequence[str]) -> list[str]:
    """Aligned text lines: a heading line, then one line per row, its ``name_column`` first and each metric of
    ``columns`` in the registry's format."""
    cells = [[str(row[name_column]), *(metric_of(key).show(row[key]) for key in columns)] for row in rows]
    headings = [name_column, *(heading(key) for key in columns)]
    widths = [max(len(line[i]) for line in [headings, *cells]) for i in range(len(headings))]
    return [
        " ".join([line[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(line[1:], widths[1:]))])
        for line in [headings, *cells]
    ]


def format_metrics(values: Mapping[str, float], groups: Sequence[Sequence[str]], separator: str = " ") -> str:
    """'MAE 0.1710 (256.6 m/s) RMSE 0.2358': the first metric of each group by its label, the others (the same
    quantity in another unit) in parentheses with their unit."""
    parts = []
    for first, *others in groups:
        shown = f"{REGISTRY[first].label} {REGISTRY[first].show(values[first])}"
        parts.append(shown + "".join(f" ({REGISTRY[o].show(values[o])} {REGISTRY[o].unit})" for o in others))
    return separator.join(parts)


def format_validation(metrics: Mapping[str, float]) -> str:
    """The training log's validation line: 'val MAE 0.1710 (256.6 m/s) RMSE 0.2358 SSIM 0.7185', and its
    'data misfit 0.1234' when the validation re-simulated predictions (that alone for a seismic-only split)."""
    scored = tuple(group for group in VALIDATION_LINE if group[0] in metrics)
    groups = (*scored, *((("data_misfit",),) if "data_misfit" in metrics else ()))
    return "val " + format_metrics(metrics, groups)
