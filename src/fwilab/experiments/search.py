"""The value a hyper-parameter search optimizes, read from a finished run's metrics."""

from __future__ import annotations

from typing import Any

from fwilab.errors import ConfigError

SECTIONS = ("best", "final")


def objective(record: dict[str, Any], metric: str) -> float:
    """``record[section][name]`` for a metric named '<best|final>_<mae|rmse|ssim|mae_ms|rmse_ms>'."""
    section, _, name = metric.partition("_")
    if section not in SECTIONS or not record.get(section) or name not in record[section]:
        raise ConfigError(f"optimized_metric={metric!r} is not one of best_* / final_* of {sorted((record.get('best') or {}))}")
    return float(record[section][name])
