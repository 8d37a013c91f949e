"""One logging interface for the training loop, fanned out to the run directory and to W&B.

A failing backend (W&B without network, a bad key, an exception inside wandb) is dropped after
one warning; the run goes on with the others.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fwilab.io import write_json

log = logging.getLogger(__name__)


def model_artifact_name(run_id: str) -> str:
    """The W&B name of a training run's model artifact: one per run, its versions are that run's."""
    return f"model-{run_id}"


@dataclass
class SnapshotLog:
    """What one activation snapshot shows: pictures, per-layer numbers and per-layer histograms."""

    images: dict[str, np.ndarray]
    scalars: dict[str, float] = field(default_factory=dict)  # 'activations/<layer>/<statistic>' -> value
    histograms: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)  # key -> (counts, bin edges)


class RunLogger:
    """The interface; every method is a no-op here (``logger=none``)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        pass

    def log_rendered(self, render: Callable[[], SnapshotLog], step: int) -> None:
        """Log the snapshot ``render()`` makes; a logger may make it later, on another thread."""
        self.log_snapshot(render(), step)

    def log_snapshot(self, snapshot: SnapshotLog, step: int) -> None:
        self.log_images(snapshot.images, step)
        if snapshot.scalars:
            self.log_metrics(snapshot.scalars, step)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        pass

    def log_summary(self, summary: dict[str, Any]) -> None:
        pass

    def log_checkpoint(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        pass

    def use_model(self, path: Path, name: str) -> None:
        """Record that this run used the model artifact ``name`` (the file ``path``), for lineage."""

    def finish(self, status: str) -> None:
        pass


def image_file_name(key: str) -> str:
    """'activations/enc.3/montage' -> 'enc.3_montage.png'; 'velocity/sample0' -> 'velocity_sample0.png'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key.removeprefix("activations/").replace("/", "_")) + ".png"


class LocalImageLogger(RunLogger):
    """Writes every logged picture as ``<run_dir>/activations/step_XXXXXX/<name>.png``.

    A snapshot's numbers go beside its pictures (``statistics.json``: scalars and histograms) and
    into one table for the whole run, ``activations/statistics.csv`` (step, layer, statistic, value).
    """

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir) / "activations"

    def log_images(self, images: dict[str, np.ndarray], step: int) -> None:
        folder = self.root / f"step_{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        for key, image in images.items():
            Image.fromarray(image).save(folder / image_file_name(key))

    def log_snapshot(self, snapshot: SnapshotLog, step: int) -> None:
        self.log_images(snapshot.images, step)
        if not snapshot.scalars:
            return
        histograms = {key: {"counts": c, "edges": e} for key, (c, e) in snapshot.histograms.items()}
        write_json(
            self.root / f"step_{step:06d}" / "statistics.json", {"scalars": snapshot.scalars, "histograms": histograms}
        )
        table = self.root / "statistics.csv"
        new = not table.is_file()
        with table.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["step", "layer", "statistic", "value"])
            for key, value in snapshot.scalars.items():
                layer, statistic = key.removeprefix("activations/").rsplit("/", 1)
                writer.writerow([step, layer, statistic, value])


def read_statistics(run_dir: str | Path) -> dict[int, dict[str, dict[str, float]]]:
    """step -> layer -> statistic -> value, from the ``activations/statistics.csv`` a ``LocalImageLogger`` wrote."""
    table = Path(run_dir) / "activations" / "statistics.csv"
    found: dict[int, dict[str, dict[str, float]]] = {}
    if table.is_file():
        with table.open() as handle:
            for row in csv.DictReader(handle):
                layers = found.setdefault(int(row["step"]), {})
                layers.setdefault(row["layer"], {})[row["statistic"]] = float(row["value"])
    return found


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

    def log_snapshot(self, snapshot: SnapshotLog, step: int) -> None:
        self._each("log_snapshot", snapshot, step)

    def log_table(self, key: str, columns: list[str], rows: list[list[Any]], step: int) -> None:
        self._each("log_table", key, columns, rows, step)

    def log_summary(self, summary: dict[str, Any]) -> None:
        self._each("log_summary", summary)

    def log_checkpoint(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        self._each("log_checkpoint", path, name, aliases, metadata)

    def use_model(self, path: Path, name: str) -> None:
        self._each("use_model", path, name)

    def finish(self, status: str) -> None:
        self._each("finish", status)
