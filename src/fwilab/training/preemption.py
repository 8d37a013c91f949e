"""Preemption: a signal becomes a request to finish the step, checkpoint and stop; then the job is requeued.

Watched signals: SIGTERM, SIGUSR1 (plain SLURM's ``--signal=USR1@N``) and submitit's preemption
signal (``SUBMITIT_PREEMPT_SIGNAL``, USR2 by default; hydra-submitit-launcher asks SLURM for it
``signal_delay_s`` before the time limit). Inside the ``with`` block they only set ``requested``;
so does a first Ctrl-C (SIGINT: the run ends ``interrupted``, resumable), a second one raises.
After the run has checkpointed and marked itself preempted, ``hand_over`` gives the signal to the
handler the process had before: under submitit that handler requeues the job (and exits), so the
requeued job resumes in the same run directory. Without one, the program ends normally.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType

log = logging.getLogger(__name__)


def submitit_signal() -> signal.Signals:
    """The signal submitit treats as preemption: ``SUBMITIT_PREEMPT_SIGNAL`` (a name such as USR2), USR2 by default."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2").upper()
    return getattr(signal, name if name.startswith("SIG") else f"SIG{name}", signal.SIGUSR2)


def preemption_signals() -> tuple[signal.Signals, ...]:
    return tuple(dict.fromkeys((signal.SIGTERM, signal.SIGUSR1, submitit_signal())))


class PreemptionWatch:
    """Within the ``with`` block, the signals set ``requested`` instead of killing the process; the warning says
    what the task does then (``then``: training saves a checkpoint after the step, refinement stops after the
    iteration)."""

    def __init__(self, then: str = "saving a checkpoint after this step, then stopping") -> None:
        self.requested: str | None = None
        self.then = then
        self._previous: dict[int, object] = {}

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.requested = signal.Signals(number).name
        log.warning("%s received: %s", self.requested, self.then)

    def _interrupt(self, number: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
        self.requested = "SIGINT"
        log.warning("Ctrl-C: %s (Ctrl-C again stops now)", self.then)

    def __enter__(self) -> PreemptionWatch:
        if threading.current_thread() is threading.main_thread():
            for number in preemption_signals():
                self._previous[number] = signal.signal(number, self._handle)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where Ctrl-C is ignored (nohup, &)
                self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def hand_over(signal_name: str) -> None:
    """Call the handler the process had for ``signal_name`` before the watch (submitit's: requeue and exit).

    Call after the checkpoint and ``metrics.json`` are written: submitit's handler exits the process.
    """
    number = getattr(signal, signal_name, None)
    handler = signal.getsignal(number) if number is not None else None
    if isinstance(handler, Callable) and handler is not signal.default_int_handler:
        log.info("handing %s to the job's own handler (%s)", signal_name, getattr(handler, "__qualname__", handler))
        handler(number, None)


def ignore_preemption_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a signal sent to the whole process group (scancel, a terminal's Ctrl-C)
    must reach the trainer's handler, not kill the workers it still needs for its last step."""
    for number in (*preemption_signals(), signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
