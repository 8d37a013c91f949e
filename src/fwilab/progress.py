"""Progress of long loops, one rule everywhere: a tqdm bar on a terminal, log lines elsewhere.

On a cluster stdout and stderr are files: a bar there is either silent (tqdm disables itself) or
a stream of carriage returns. So off a terminal a loop reports through Python logging instead (the
job's ``train.log`` and stdout), one line per tenth of the way, unless it writes its own lines (the
training loop logs every ``trainer.log_every_steps``). On a terminal, log lines printed while the
bar is open go through tqdm, so they do not break it.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

log = logging.getLogger("fwilab.progress")
REPORTS_OFF_TERMINAL = 10  # log lines over the whole loop when no bar is shown


def on_terminal() -> bool:
    """Whether a bar can be drawn: stderr (where tqdm writes) is a terminal."""
    return sys.stderr.isatty()


def format_duration(seconds: float) -> str:
    """'1:02:03' or '02:03' (tqdm's format, so bars and log lines read alike)."""
    return tqdm.format_interval(seconds)


class Progress:
    """A bar on a terminal, else a log line at each tenth of ``total``; use as a context manager.

    ``log_lines=False`` is for loops that log their own progress lines; ``enabled=False`` shows nothing.
    """

    def __init__(
        self, total: int, desc: str, unit: str = "it", initial: int = 0, log_lines: bool = True, enabled: bool = True
    ):
        self.total, self.desc, self.unit, self.done = total, desc, unit, initial
        self.log_lines = log_lines and enabled
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not (enabled and on_terminal()))
        self.started, self.initial = time.perf_counter(), initial  # this process's start: the rate's origin
        self._reported = self._tenth(initial)
        self._stack = ExitStack()

    def _tenth(self, done: int) -> int:
        return done * REPORTS_OFF_TERMINAL // max(self.total, 1)

    def __enter__(self) -> Progress:
        if not self.bar.disable:
            self._stack.enter_context(logging_redirect_tqdm())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, count: int = 1) -> None:
        self.bar.update(count)
        self.done += count
        if self.bar.disable and self.log_lines and self._tenth(self.done) > self._reported:
            self._reported = self._tenth(self.done)
            elapsed = time.perf_counter() - self.started
            remaining = self.remaining_s(self.done)
            log.info(
                "%s: %d/%d %s (%d%%), %s elapsed, %s remaining",
                self.desc,
                self.done,
                self.total,
                self.unit,
                100 * self.done // max(self.total, 1),
                format_duration(elapsed),
                format_duration(remaining),
            )

    def remaining_s(self, done: int) -> float:
        """Seconds left once ``done`` of the total are done, at this process's rate so far (0 before any)."""
        finished = done - self.initial
        return (self.total - done) * (time.perf_counter() - self.started) / finished if finished > 0 else 0.0

    def set_postfix(self, **values: str) -> None:
        self.bar.set_postfix(**values)

    def close(self) -> None:
        self.bar.close()
        self._stack.close()
