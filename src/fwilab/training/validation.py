"""Scoring a model on a split: the same code at every validation and in evaluate.py."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from fwilab.data.transforms import Normalizer
from fwilab.progress import Progress
from fwilab.training.distributed import DistributedContext
from fwilab.training.metrics import MetricAccumulator


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    normalizer: Normalizer,
    device: torch.device,
    context: DistributedContext | None = None,
    show_progress: bool = False,
) -> dict[str, float]:
    """MAE / MSE / RMSE / SSIM of ``model`` over every batch of ``loader`` (each rank's shard, summed), in eval mode.

    ``show_progress`` for a whole evaluation (evaluate.py); a training run's validations report in its log line.
    """
    was_training = model.training
    model.eval()
    metrics = MetricAccumulator(normalizer.ms_per_unit)
    with Progress(len(loader), "evaluate", unit="batches", enabled=show_progress) as progress:
        for seismic, velocity in loader:
            prediction = model(normalizer.seismic(seismic.to(device, non_blocking=True)))
            metrics.update(prediction, normalizer.velocity(velocity.to(device, non_blocking=True)))
            progress.update()
    model.train(was_training)
    return metrics.compute(context.all_reduce_sum if context is not None else None)
