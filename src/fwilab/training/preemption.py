"""SIGTERM / SIGUSR1 (how SLURM announces preemption) become a request to checkpoint and stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType

log = logging.getLogger(__name__)

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class PreemptionWatch:
    """Within the ``with`` block, the signals set ``requested`` instead of killing the process."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.requested = signal.Signals(number).name
        log.warning("%s received: saving a checkpoint after this step, then stopping", self.requested)

    def __enter__(self) -> PreemptionWatch:
        if threading.current_thread() is threading.main_thread():
            for number in PREEMPTION_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def ignore_preemption_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a signal sent to the whole process group (scancel, a terminal)
    must reach the trainer's handler, not kill the workers it still needs for its last step."""
    for number in PREEMPTION_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
