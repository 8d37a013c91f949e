"""Logging off the training thread: every call runs, in call order, on one worker thread.

Encoding pictures as PNG (run dir and W&B) and rendering them take about a second per snapshot
on a CPU, which would stall a GPU that runs a step in tens of milliseconds. Keeping one worker and
the call order keeps W&B's steps increasing, so pictures of step s still land before metrics of
step s + 1. A bounded backlog makes the training thread wait rather than pile up snapshots when
the worker cannot keep up.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fwilab.tracking.run_logger import RunLogger, SnapshotLog

log = logging.getLogger(__name__)


class BackgroundLogger(RunLogger):
    """Wraps a logger; its calls return at once and run on the worker; ``finish`` waits for all of them."""

    def __init__(self, inner: RunLogger, max_backlog: int = 8):
        self.inner = inner
        self.max_backlog = max_backlog
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fwilab-log")
        self.backlog: deque[Future] = deque()

    def _enqueue(self, call: Callable[[], None], what: str) -> None:
        while self.backlog and (self.backlog[0].done() or len(self.backlog) >= self.max_backlog):
            self.backlog.popleft().result()
        self.backlog.append(self.worker.submit(self._run, call, what))

    @staticmethod
    def _run(call: Callable[[], None], what: str) -> None:
        try:
            call()
        except Exception as error:  # a picture or a logging backend must never stop training
            log.warning("%s failed (%s: %s); training goes on", what, type(error).__name__, error)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._enqueue(lambda: self.inner.log_metrics(metrics, step), f"logging metrics of step {step}")

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        self._enqueue(lambda: self.inner.log_images(images, step), f"logging pictures of step {step}")

    def log_rendered(self, render: Callable[[], SnapshotLog], step: int) -> None:
        self._enqueue(lambda: self.inner.log_snapshot(render(), step), f"rendering the snapshot of step {step}")

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        self._enqueue(lambda: self.inner.log_table(key, columns, rows, step), f"logging table {key}")

    def log_summary(self, summary: dict[str, Any]) -> None:
        self._enqueue(lambda: self.inner.log_summary(summary), "logging the summary")

    def log_checkpoint(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        self._enqueue(lambda: self.inner.log_checkpoint(path, name, aliases, metadata), f"logging checkpoint {path}")

    def finish(self, status: str) -> None:
        """Finish the inner logger after everything queued; returns when the worker is done."""
        self._enqueue(lambda: self.inner.finish(status), "finishing the run log")
        self.worker.shutdown(wait=True)
        self.backlog.clear()
