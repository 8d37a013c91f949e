"""The loss_landscape.py task: 1-D and 2-D loss surfaces around a checkpoint, as PNG + JSON and logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate

from fwilab.config.tasks import LandscapeSettings
from fwilab.data.openfwi import first_samples
from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.loss_landscape import filter_normalized_direction, loss_surface, plot_contour, plot_line
from fwilab.tracking import TaskOutputs, publish
from fwilab.tracking.publish import picture_path
from fwilab.training.trained_model import load_trained

log = logging.getLogger(__name__)


def run_loss_landscape(settings: LandscapeSettings, run_dir: str | Path) -> dict[str, Any]:
    """The loss_landscape.py task: 1-D and 2-D surfaces, written as PNG + JSON and logged."""
    run_dir = Path(run_dir)
    loaded = load_trained(settings.config)
    trained = loaded.config
    criterion = instantiate(trained.loss)
    normalizer: Normalizer = loaded.normalizer
    seismic, velocity = first_samples(loaded.dataset, settings.samples)
    count = len(seismic)
    batches = [
        (normalizer.seismic(gathers.to(loaded.device)), normalizer.velocity(maps.to(loaded.device)))
        for gathers, maps in zip(seismic.split(settings.batch_size), velocity.split(settings.batch_size))
    ]
    generator = torch.Generator().manual_seed(settings.seed)
    first, second = (filter_normalized_direction(loaded.model, generator) for _ in range(2))
    alphas = np.linspace(-settings.range, settings.range, settings.points_1d)
    grid = np.linspace(-settings.range, settings.range, settings.points_2d)
    line = loss_surface(loaded.model, batches, criterion, [first], [alphas])
    surface = loss_surface(loaded.model, batches, criterion, [first, second], [grid, grid])
    name = trained.model._target_.rsplit(".", 1)[-1]
    if trained.get("optimizer") is not None:
        name += f" + {trained.optimizer._target_.rsplit('.', 1)[-1]}"
    images = {
        "loss_landscape/loss_1d": plot_line(alphas, line, f"1-D loss around {name}"),
        "loss_landscape/loss_2d": plot_contour(grid, grid, surface, f"2-D loss around {name}"),
    }
    result = {
        "checkpoint": str(settings.checkpoint),
        "samples": count,
        "loss_at_minimum": float(line[len(alphas) // 2]) if len(alphas) % 2 else None,
        "alphas": alphas.tolist(),
        "loss_1d": line.tolist(),
        "grid": grid.tolist(),
        "loss_2d": surface.tolist(),
    }
    summary = {"loss_landscape/min_1d": float(line.min()), "loss_landscape/max_2d": float(surface.max())}
    logger = loaded.task_logger(settings.config, run_dir, "loss_landscape")
    result = publish(TaskOutputs(result, pictures=images, summary=summary), run_dir, "landscape.json", logger)
    log.info(
        "loss landscape of %s on %d samples: %s",
        settings.checkpoint,
        count,
        ", ".join(str(picture_path(run_dir, key)) for key in images),
    )
    return result
