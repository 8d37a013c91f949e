"""The value a hyper-parameter search optimizes, read from a finished run's metrics."""

from __future__ import annotations

from typing import Any

from fwilab.errors import ConfigError, FwilabError

SECTIONS = ("best", "final")


class IncompleteTrial(FwilabError):
    """A run that stopped early (preempted) has no result to report to a search."""


def objective(record: dict[str, Any], metric: str) -> float:
    """``record[section][name]`` for a metric named '<best|final>_<mae|rmse|ssim|mae_ms|rmse_ms>' of a completed run.

    A preempted run's metrics are partial: reporting them would rank an unfinished trial as
    finished, so it raises and the search records the trial as failed.
    """
    if record.get("status") != "completed":
        raise IncompleteTrial(
            f"the run ended {record.get('status')} at step {record.get('preempted_at_step', '?')}: no {metric} to report"
        )
    section, _, name = metric.partition("_")
    if section not in SECTIONS or not record.get(section) or name not in record[section]:
        raise ConfigError(
            f"optimized_metric={metric!r} is not one of best_* / final_* of {sorted(record.get('best') or {})}"
        )
    return float(record[section][name])
