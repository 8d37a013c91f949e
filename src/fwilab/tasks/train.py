"""The train task: one training run, and under a hyper-parameter search the value it optimizes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fwilab.config.tasks import TrainSettings
from fwilab.experiments.search import objective
from fwilab.training.loop import train


def train_task(
    settings: TrainSettings, run_dir: str | Path, started: Callable[[], None] | None = None
) -> dict[str, Any] | float:
    """The run's record, or with ``optimized_metric`` set (a search) that metric of the finished run; ``started`` is
    called when the run has passed its checks (``fwilab.training.loop.train``)."""
    record = train(settings, run_dir, started)
    metric = settings.optimized_metric  # set only by hparams_search
    return record if metric is None else objective(record, metric)
