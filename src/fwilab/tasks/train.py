"""The train task: one training run, and under a hyper-parameter search the value it optimizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fwilab.config.tasks import TrainSettings
from fwilab.experiments.search import objective
from fwilab.training.loop import train


def train_task(settings: TrainSettings, run_dir: str | Path) -> dict[str, Any] | float:
    """The run's record, or with ``optimized_metric`` set (a search) that metric of the finished run."""
    record = train(settings, run_dir)
    metric = settings.optimized_metric  # set only by hparams_search
    return record if metric is None else objective(record, metric)
