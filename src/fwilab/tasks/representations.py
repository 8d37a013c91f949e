"""Layer x layer linear CKA between two trained models on the same probe samples (compare_representations.py).

Both models see the same validation samples of the first run's data, each normalized with the
constants it was trained with. A layer's response to a sample is its whole output map, flattened,
so layers of any shape compare; CKA needs only each layer's (n, n) Gram matrix over the samples,
which the hooks accumulate, so no activation is kept. Writes ``cka.json``, ``cka.csv`` and
``cka.png`` (a heat map), and logs the table and the picture to a W&B run (offline by default).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from omegaconf import OmegaConf
from torch import nn

from fwilab.config.tasks import CompareRepresentationsSettings
from fwilab.data.openfwi import first_samples
from fwilab.diagnostics.activations import select_layers
from fwilab.diagnostics.statistics import cka_from_grams
from fwilab.errors import ConfigError
from fwilab.plotting import figure_to_rgb
from fwilab.progress import Progress
from fwilab.tracking import RunLogger, TaskOutputs, build_logger, publish
from fwilab.training.trained_model import TrainedModel, load_trained

log = logging.getLogger(__name__)
MIN_SAMPLES = 4
TABLE_COLUMNS = ["layer_a", "layer_b", "cka"]


@dataclass
class CKAMatrix:
    """``values[i, j]``: linear CKA between layer ``rows[i]`` of model A and layer ``columns[j]`` of model B."""

    name_a: str
    name_b: str
    rows: list[str]
    columns: list[str]
    values: np.ndarray
    samples: int


def checkpoint_of(run: str | Path) -> Path:
    """A run directory's ``checkpoints/best.pt``, or the checkpoint file itself."""
    path = Path(run)
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{run}: neither a checkpoint file nor a run directory with checkpoints/best.pt")
    return path


@torch.no_grad()
def layer_grams(model: nn.Module, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each ConvBlock / DeconvBlock's (n, n) Gram matrix of flattened outputs over the n input samples."""
    grams: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def keep(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            flat = output.flatten(1).double()
            grams[name] = (flat @ flat.T).cpu()

        return keep

    handles = [module.register_forward_hook(hook(name)) for name, module in select_layers(model).items()]
    try:
        model.eval()(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return grams


def cka_matrix(model_a: TrainedModel, model_b: TrainedModel, samples: int, names: tuple[str, str]) -> CKAMatrix:
    """CKA of every layer pair on the first ``samples`` samples of model A's split."""
    count = min(samples, len(model_a.dataset))
    if count < MIN_SAMPLES:
        raise ConfigError(f"samples={samples}: CKA needs at least {MIN_SAMPLES} probe samples, the split has {count}")
    seismic = first_samples(model_a.dataset, count)[0]
    grams = []
    with Progress(2, f"CKA on {count} samples", unit="models") as progress:
        for trained in (model_a, model_b):
            grams.append(layer_grams(trained.model, trained.normalizer.seismic(seismic.to(trained.device))))
            progress.update()
    grams_a, grams_b = grams
    values = np.array([[cka_from_grams(ka, kb) for kb in grams_b.values()] for ka in grams_a.values()])
    return CKAMatrix(names[0], names[1], list(grams_a), list(grams_b), values, count)


def heat_map(matrix: CKAMatrix) -> np.ndarray:
    """The matrix as an RGB picture: model A's layers down, model B's across, CKA in [0, 1] as colour and number."""
    rows, columns = len(matrix.rows), len(matrix.columns)
    figure = Figure(figsize=(2.5 + 0.5 * columns, 1.5 + 0.4 * rows), dpi=100)
    axes = figure.add_subplot()
    shown = axes.imshow(matrix.values, vmin=0.0, vmax=1.0, cmap="magma")
    axes.set_xticks(range(columns), matrix.columns, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(rows), matrix.rows, fontsize=8)
    axes.set_xlabel(matrix.name_b)
    axes.set_ylabel(matrix.name_a)
    axes.set_title(f"linear CKA on {matrix.samples} probe samples", fontsize=10)
    for i in range(rows):
        for j in range(columns):
            value = matrix.values[i, j]
            axes.text(
                j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="black" if value > 0.6 else "white"
            )
    figure.colorbar(shown, ax=axes, fraction=0.04)
    figure.tight_layout()
    return figure_to_rgb(figure)


def compare_representations(
    run_a: str | Path,
    run_b: str | Path,
    out: str | Path,
    samples: int = 64,
    split: str = "val",
    device: str = "auto",
    logger: RunLogger | None = None,
) -> CKAMatrix:
    """Write ``cka.csv``, ``cka.png`` and ``cka.json`` for two runs (or checkpoints) into ``out``, and publish the
    table and the heat map to ``logger`` (none: files only)."""
    paths = checkpoint_of(run_a), checkpoint_of(run_b)
    models = [
        load_trained(
            OmegaConf.create({"checkpoint": str(p), "split": split, "device": device, "normalization": "checkpoint"})
        )
        for p in paths
    ]
    names = tuple(f"{type(m.model).__name__} ({p.parent.parent.name or p.name})" for m, p in zip(models, paths))
    matrix = cka_matrix(models[0], models[1], samples, names)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "cka.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_COLUMNS)
        writer.writerows(table_rows(matrix))
    result = {
        "a": str(paths[0]),
        "b": str(paths[1]),
        "samples": matrix.samples,
        "split": split,
        "rows": matrix.rows,
        "columns": matrix.columns,
        "cka": matrix.values.tolist(),
    }
    outputs = TaskOutputs(
        result,
        pictures={"cka/heat_map": heat_map(matrix)},
        picture_names={"cka/heat_map": "cka"},
        tables={"cka/table": (TABLE_COLUMNS, table_rows(matrix))},
    )
    publish(outputs, folder, "cka.json", logger or RunLogger())
    log.info(
        "CKA of %d x %d layers on %d samples written to %s",
        len(matrix.rows),
        len(matrix.columns),
        matrix.samples,
        folder,
    )
    return matrix


def table_rows(matrix: CKAMatrix) -> list[list[Any]]:
    """One [layer of A, layer of B, CKA] row per pair."""
    return [
        [row, column, float(matrix.values[i, j])]
        for i, row in enumerate(matrix.rows)
        for j, column in enumerate(matrix.columns)
    ]


def compare_and_log(settings: CompareRepresentationsSettings, run_dir: Path) -> Path:
    """The compare_representations.py task: the files in ``run_dir``, and a W&B run with the table and heat map."""
    for run in (settings.a, settings.b):
        checkpoint_of(run)  # a missing run is refused before a W&B run starts
    config = OmegaConf.to_container(settings.config, resolve=True)
    logger = build_logger(
        settings.config.logger, run_dir, "compare_representations", ["cka"], config, local_images=False
    )
    compare_representations(settings.a, settings.b, run_dir, settings.samples, settings.split, settings.device, logger)
    return run_dir / "cka.png"
