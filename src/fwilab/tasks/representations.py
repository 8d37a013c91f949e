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
from PIL import Image
from torch import nn

from fwilab.config.tasks import CompareRepresentationsSettings
from fwilab.diagnostics.activations import select_layers
from fwilab.diagnostics.statistics import cka_from_grams
from fwilab.errors import ConfigError
from fwilab.io import write_json
from fwilab.plotting import figure_to_rgb
from fwilab.progress import Progress
from fwilab.tasks.evaluate import TrainedModel, load_trained

log = logging.getLogger(__name__)
MIN_SAMPLES = 4


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
    seismic = torch.stack([model_a.dataset[index][0] for index in range(count)])
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
    run_a: str | Path, run_b: str | Path, out: str | Path, samples: int = 64, split: str = "val", device: str = "auto"
) -> CKAMatrix:
    """Write ``cka.json``, ``cka.csv`` and ``cka.png`` for two runs (or checkpoints) into ``out``."""
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
    write_json(
        folder / "cka.json",
        {
            "a": str(paths[0]),
            "b": str(paths[1]),
            "samples": matrix.samples,
            "split": split,
            "rows": matrix.rows,
            "columns": matrix.columns,
            "cka": matrix.values.tolist(),
        },
    )
    with (folder / "cka.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["layer_a", "layer_b", "cka"])
        writer.writerows(table_rows(matrix))
    Image.fromarray(heat_map(matrix)).save(folder / "cka.png")
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
    matrix = compare_representations(settings.a, settings.b, run_dir, settings.samples, settings.split, settings.device)
    if settings.logger.backend == "wandb":
        _log_to_wandb(matrix, settings, run_dir)
    return run_dir / "cka.png"


def _log_to_wandb(matrix: CKAMatrix, settings: CompareRepresentationsSettings, run_dir: Path) -> None:
    import wandb  # a second to import: only when a W&B run is asked for

    from fwilab.logging.wandb_run import init_wandb_run

    try:
        run = init_wandb_run(
            settings.config.logger,
            run_dir,
            "compare_representations",
            name=f"CKA {matrix.name_a} vs {matrix.name_b}",
            group=settings.logger.group,
            config={"a": str(settings.a), "b": str(settings.b), "samples": matrix.samples, "split": settings.split},
        )
    except Exception as error:  # no network or a broken install: the files are written already
        log.warning("W&B did not start (%s); the CKA files are in %s", str(error).splitlines()[0], run_dir)
        return
    run.log(
        {
            "cka/table": wandb.Table(columns=["layer_a", "layer_b", "cka"], data=table_rows(matrix)),
            "cka/heat_map": wandb.Image(str(run_dir / "cka.png")),
        }
    )
    run.finish()
