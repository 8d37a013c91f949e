"""Every metric fwilab reports, in one table: its name, unit, which way it improves and how it is printed.

The record's best checkpoint, W&B's best-value summaries, the sweep summary's ranking, the baseline
comparison's "better in" count, the log lines and the reports read it, so each of these facts is
stated here and nowhere else. Directions follow OpenFWI's tables: errors lower, SSIM higher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


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
    'data misfit 0.1234' when the validation re-simulated predictions."""
    groups = (("mae", "mae_ms"), ("rmse",), ("ssim",), *((("data_misfit",),) if "data_misfit" in metrics else ()))
    return "val " + format_metrics(metrics, groups)
