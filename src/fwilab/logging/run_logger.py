"""One logging interface for the training loop, fanned out to the run directory and to W&B.

A failing backend (W&B without network, a bad key, an exception inside wandb) is dropped after
one warning; the run goes on with the others.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


class RunLogger:
    """The interface; every method is a no-op here (``logger=none``)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        pass

    def log_rendered(self, render: Callable[[], dict[str, np.ndarray]], step: int) -> None:
        """Log the pictures ``render()`` makes; a logger may make them later, on another thread."""
        self.log_images(render(), step)

    def log_summary(self, summary: dict[str, Any]) -> None:
        pass

    def log_checkpoint(self, path: Path, name: str) -> None:
        pass

    def finish(self, status: str) -> None:
        pass


def image_file_name(key: str) -> str:
    """'activations/enc.3/montage' -> 'enc.3_montage.png'; 'velocity/sample0' -> 'velocity_sample0.png'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key.removeprefix("activations/").replace("/", "_")) + ".png"


class LocalImageLogger(RunLogger):
    """Writes every logged picture as ``<run_dir>/activations/step_XXXXXX/<name>.png``."""

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir) / "activations"

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        folder = self.root / f"step_{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        for key, image in images.items():
            Image.fromarray(image).save(folder / image_file_name(key))


class FanOutLogger(RunLogger):
    """Sends each call to every backend; a backend that raises is warned about once and dropped."""

    def __init__(self, backends: list[RunLogger]):
        self.backends = list(backends)

    def _each(self, method: str, *args: Any) -> None:
        for backend in list(self.backends):
            try:
                getattr(backend, method)(*args)
            except Exception as error:  # a logging backend must never stop training
                log.warning("%s failed in %s (%s); continuing without it", type(backend).__name__, method, error)
                self.backends.remove(backend)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._each("log_metrics", metrics, step)

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        self._each("log_images", images, step)

    def log_summary(self, summary: dict[str, Any]) -> None:
        self._each("log_summary", summary)

    def log_checkpoint(self, path: Path, name: str) -> None:
        self._each("log_checkpoint", path, name)

    def finish(self, status: str) -> None:
        self._each("finish", status)
