"""Scoring a model on a split: the same code at every validation and in evaluate.py."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fwilab.data.openfwi import first_samples
from fwilab.data.transforms import Normalizer
from fwilab.physics.forward import propagation_device
from fwilab.physics.misfit import resimulated_misfit
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


@dataclass
class Predictions:
    """The first samples of a split: observed gathers, true maps and the model's maps, all raw (m/s) on the CPU."""

    seismic: torch.Tensor  # (n, 5, 1000, 70)
    truth: torch.Tensor  # (n, 1, 70, 70) m/s
    predicted: torch.Tensor  # (n, 1, 70, 70) m/s, clamped to the normalizer's velocity range


@torch.no_grad()
def predict_first(
    model: nn.Module, dataset: Dataset, normalizer: Normalizer, device: torch.device, count: int, batch_size: int = 16
) -> Predictions:
    """``model``'s maps (eval mode) for the first ``count`` samples of ``dataset`` (fewer when it is smaller)."""
    was_training = model.training
    model.eval()
    seismic, truth = first_samples(dataset, count)
    parts = [model(normalizer.seismic(batch.to(device))).float().cpu() for batch in seismic.split(batch_size)]
    model.train(was_training)
    predicted = normalizer.velocity_to_ms(torch.cat(parts)).clamp(normalizer.vel_min, normalizer.vel_max)
    return Predictions(seismic, truth, predicted)


def resimulated_predictions(
    model: nn.Module, dataset: Dataset, normalizer: Normalizer, device: torch.device, count: int, batch_size: int
) -> tuple[Predictions, torch.Tensor, torch.Tensor]:
    """The first ``count`` predictions, their gathers re-simulated with fwilab's forward operator (``batch_size`` maps
    per deepwave call) and their relative misfits against the recorded ones."""
    maps = predict_first(model, dataset, normalizer, device, count)
    simulated, misfit = resimulated_misfit(maps.predicted, maps.seismic, batch_size, propagation_device(device))
    return maps, simulated, misfit


@dataclass(frozen=True)
class DataFit:
    """A validation's data misfit: the first ``samples`` validation maps predicted, re-simulated with fwilab's
    forward operator and compared with their recorded gathers (``physics.samples`` of train.yaml; 0: off)."""

    samples: int
    batch_size: int

    def mean_misfit(self, model: nn.Module, dataset: Dataset, normalizer: Normalizer, device: torch.device) -> float:
        misfit = resimulated_predictions(model, dataset, normalizer, device, self.samples, self.batch_size)[2]
        return misfit.mean().item()
