"""Run logging: PNGs and JSON in the run directory, and Weights & Biases runs (offline by default)."""

from fwilab.tracking.background import BackgroundLogger
from fwilab.tracking.build import build_logger
from fwilab.tracking.publish import TaskOutputs, publish
from fwilab.tracking.run_logger import FanOutLogger, LocalImageLogger, RunLogger, SnapshotLog

__all__ = [
    "BackgroundLogger",
    "FanOutLogger",
    "LocalImageLogger",
    "RunLogger",
    "SnapshotLog",
    "TaskOutputs",
    "build_logger",
    "publish",
]
