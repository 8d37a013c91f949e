"""What a run reports: ``metrics.json`` (one writer) and the loss / throughput since the last log line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from fwilab.io import write_json
from fwilab.metric_registry import REGISTRY

RECORD_FILE = "metrics.json"
MAIN_LOSS = "loss"  # the name of the loss the progress line reports, when an objective returns one so named
ENDED_BY_THE_RUN = ("diverged", "preempted", "interrupted", "failed")  # statuses a run writes itself


class RunRecord:
    """The content of a train run's ``metrics.json``; ``_write()`` is the only place it is written (rank 0 has a
    directory, others None).

    Saved at every validation and at the end, so an interrupted run still reports; checkpoints carry
    it (``state_dict``), so a resumed run continues the same history.
    """

    def __init__(self, directory: Path | None, monitor: str = "mae", **facts: Any):
        self.path = directory / RECORD_FILE if directory is not None else None
        self.monitor = monitor
        self.data: dict[str, Any] = {
            "status": "running",
            **facts,
            "train_loss": [],
            "train_losses": {},  # each named loss of the objective besides ``loss``: [[step, mean], ...]
            "val_history": [],
            "final": None,
            "best": None,
            "train_samples_per_s": None,
            "train_throughput": [],
            "snapshot_blocked_s": [],
        }
        self._started = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        return self.data

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue a checkpointed record (keys added since that checkpoint keep their fresh values)."""
        self.data.update(saved)
        self._started -= saved.get("wall_time_s", 0.0)

    def add_validation(self, step: int, epoch: int, metrics: dict[str, float]) -> bool:
        """Record a validation; True when it is the best so far by the monitored metric (``trainer.monitor``)."""
        self.data["val_history"].append({"step": step, "epoch": epoch, **metrics})
        self.data["final"] = {"step": step, **metrics}
        key = self.monitor
        best = self.data["best"] is None or REGISTRY[key].improves_on(metrics[key], self.data["best"][key])
        if best:
            self.data["best"] = {"step": step, **metrics}
        return best

    def elapsed_s(self) -> float:
        """Wall time of the run so far, the time before a resume included."""
        return time.perf_counter() - self._started

    def save(self, **updates: Any) -> dict[str, Any]:
        self.data.update(updates, wall_time_s=self.elapsed_s())
        self._write()
        return self.data

    @classmethod
    def mark_failed(cls, directory: Path, message: str) -> None:
        """Mark ``directory``'s record failed for an error the run did not record itself (one before it
        started, or after it ended); a diverged, preempted, interrupted or failed run keeps its own status."""
        record = cls(directory)
        record.data = json.loads(record.path.read_text()) if record.path.is_file() else {}
        if record.data.get("status") not in ENDED_BY_THE_RUN:
            record.data.update(status="failed", error=message)
        record._write()

    def _write(self) -> None:
        if self.path is not None:
            write_json(self.path, self.data)


def main_loss(losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """The loss a step reports first: the one named ``loss``, or else the first."""
    return losses[MAIN_LOSS] if MAIN_LOSS in losses else next(iter(losses.values()))


class IntervalMeter:
    """Loss and samples/s over the steps since the last log line; pauses (validation, snapshots) are left out.

    The loss sum stays on the device (no host sync per step); ``state_dict`` carries it across a resume.
    """

    def __init__(self, device: torch.device, samples_per_step: int):
        self.samples_per_step = samples_per_step
        self.device = device
        self.loss_sum = torch.zeros((), device=device)
        self.steps = 0
        self.named_sums: dict[str, torch.Tensor] = {}  # each loss an objective returns, summed over its steps
        self.named_counts: dict[str, int] = {}  # how many steps returned it (a GAN's generator loss: some)
        self.seconds_total = 0.0
        self.samples_total = 0
        self._interval_start = time.perf_counter()
        self._paused_at: float | None = None

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        """A step's losses (an objective's ``step``): its main one (``loss``, or else the first) and each by name."""
        self.loss_sum += main_loss(losses).detach().float()
        self.steps += 1
        for name, value in losses.items():
            if name not in self.named_sums:
                self.named_sums[name] = torch.zeros((), device=self.device)
                self.named_counts[name] = 0
            self.named_sums[name] += value.detach().float()
            self.named_counts[name] += 1

    def close_named(
        self, reduce_sum: Callable[[torch.Tensor], torch.Tensor], names: Callable[[Iterable[str]], list[str]]
    ) -> dict[str, float]:
        """The mean of each named loss over the interval's steps, on every rank, that returned it; starts the next
        interval's. ``names``: the union of the ranks' names, ``reduce_sum``: the sum over ranks (one sum and count
        per name on every rank, even where this rank's count is 0)."""
        means = {}
        for name in names(self.named_sums):
            total = self.named_sums.setdefault(name, torch.zeros((), device=self.device))
            count = self.named_counts.setdefault(name, 0)
            summed, steps = reduce_sum(torch.stack([total.detach().float(), total.new_tensor(float(count))])).tolist()
            if steps:
                means[name] = summed / steps
            total.zero_()
            self.named_counts[name] = 0
        return means

    def pause(self) -> None:
        self._paused_at = time.perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._interval_start += time.perf_counter() - self._paused_at
            self._paused_at = None

    def close_interval(self, loss_sum: float) -> tuple[float, float]:
        """(mean loss, samples/s) of the interval, given its loss sum over every rank; starts the next one."""
        now = time.perf_counter()
        seconds = now - self._interval_start
        samples = self.steps * self.samples_per_step
        mean_loss = loss_sum / max(self.steps, 1)
        self.seconds_total += seconds
        self.samples_total += samples
        self.loss_sum.zero_()
        self.steps = 0
        self._interval_start = now
        return mean_loss, samples / seconds

    @property
    def samples_per_s(self) -> float | None:
        return self.samples_total / self.seconds_total if self.seconds_total > 0 else None

    def state_dict(self) -> dict[str, Any]:
        named = {
            name: {"sum": total.detach().cpu(), "count": self.named_counts[name]}
            for name, total in self.named_sums.items()
        }
        return {"loss_sum": self.loss_sum.detach().cpu(), "steps": self.steps, "named": named}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """An interval meter's state (one saved before named losses existed has none)."""
        self.loss_sum += state["loss_sum"].to(self.loss_sum.device)
        self.steps = int(state["steps"])
        for name, saved in state.get("named", {}).items():
            self.named_sums[name] = saved["sum"].to(self.device)
            self.named_counts[name] = int(saved["count"])
