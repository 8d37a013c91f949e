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
from omegaconf import DictConfig
from PIL import Image

from fwilab.errors import ConfigError

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


def build_logger(
    cfg: DictConfig, run_dir: str | Path, local_images: bool = True, run_id: str | None = None
) -> FanOutLogger:
    """Local PNGs (unless the caller writes its own); W&B too when ``logger.backend`` is 'wandb' and it starts.

    ``run_id`` names the W&B run: a resumed training run passes the id it started with, so its
    history continues in the same W&B run.
    """
    backends: list[RunLogger] = [LocalImageLogger(run_dir)] if local_images else []
    if cfg.logger.backend == "wandb":
        from fwilab.logging.wandb_run import start_wandb  # importing wandb costs a second: only when asked

        wandb_logger = start_wandb(cfg, Path(run_dir), run_id)
        if wandb_logger is not None:
            backends.append(wandb_logger)
    elif cfg.logger.backend != "none":
        raise ConfigError(f"logger.backend={cfg.logger.backend!r} is not 'wandb' or 'none'")
    return FanOutLogger(backends)
