"""Losses that make trouble on a chosen call (a signal, an exception, a NaN gradient, a wait), named by Hydra
``_target_`` (``helpers.faults.<name>``) in the runs of the tests, in process or in a subprocess with ``tests`` on
PYTHONPATH."""

import os
import signal
import time
from pathlib import Path

import torch
from torch import nn

from fwilab.training.losses import WeightedL1L2


class NanGradientLoss(nn.Module):
    """L1 loss whose gradient is NaN on chosen calls (sqrt at 0), while the loss itself stays finite."""

    def __init__(self, bad_calls: list[int]):
        super().__init__()
        self.bad_calls = set(bad_calls)
        self.calls = 0

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = (prediction - target).abs().mean()
        if self.calls in self.bad_calls:
            loss = loss + torch.sqrt(prediction.sum() * 0.0)
        return loss


class PreemptedOnce(WeightedL1L2):
    """OpenFWI's loss, which sends this process ``signal_name`` at call ``call`` of the first attempt only
    (``marker`` remembers), as SLURM does ``signal_delay_s`` before a time limit."""

    def __init__(self, call: int, signal_name: str, marker: str, **weights: float):
        super().__init__(**weights)
        self.call, self.signal_name, self.marker, self.calls = call, signal_name, Path(marker), 0

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.call and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), getattr(signal, self.signal_name))
        return super().forward(prediction, target)


class HeldAt(WeightedL1L2):
    """OpenFWI's loss, which at call ``call`` (training step ``call``) touches ``held`` beside ``release`` and waits until
    the file ``release`` exists: the run cannot end before the test has signalled it, however late a loaded machine
    schedules the test's own process."""

    def __init__(self, call: int, release: str, **weights: float):
        super().__init__(**weights)
        self.call, self.release, self.calls = call, Path(release), 0

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.call:
            self.release.with_name("held").touch()
        while self.calls == self.call and not self.release.exists():
            time.sleep(0.01)
        return super().forward(prediction, target)


class TroubleAtCall(WeightedL1L2):
    """OpenFWI's loss, which at call ``call`` presses Ctrl-C ``presses`` times (SIGINT to this process) or raises;
    with ``marker``, only while that file does not exist (it is created then): a run resumed with the same loss goes on."""

    def __init__(self, call: int, presses: int = 0, marker: str | None = None, **weights: float):
        super().__init__(**weights)
        self.call, self.presses, self.calls = call, presses, 0
        self.marker = Path(marker) if marker is not None else None

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.call and not (self.marker is not None and self.marker.exists()):
            if self.marker is not None:
                self.marker.touch()
            if not self.presses:
                raise RuntimeError("boom in the loss")
            for _ in range(self.presses):
                os.kill(os.getpid(), signal.SIGINT)
        return super().forward(prediction, target)
