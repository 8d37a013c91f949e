"""Score a saved model on a split, and with ``physics.samples`` the data misfit of its re-simulated predictions
(evaluate.py). The model, data and normalizer come from ``training.trained_model.load_trained``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from fwilab.config.tasks import EvaluateSettings
from fwilab.diagnostics.render import render_gather_comparison
from fwilab.metric_registry import EVALUATION_LINE, format_metrics
from fwilab.physics.forward import propagation_device
from fwilab.physics.misfit import check_velocity_range, misfit_summary, resimulated_misfit
from fwilab.tracking import TaskOutputs, publish
from fwilab.training.trained_model import TrainedModel, load_trained
from fwilab.training.validation import evaluate, resimulated_predictions

log = logging.getLogger(__name__)


DATA_FIT_PICTURES = "data_fit"  # the run directory's folder of the data-fit pictures, and their W&B group


def score_data_fit(loaded: TrainedModel, count: int, batch_size: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Re-simulate the predicted and the true maps of the first ``count`` samples; their relative L2 data misfits
    (the truth's is the operator's floor) and one picture per sample (the centre shot: observed, predicted,
    difference) by W&B key."""
    normalizer = loaded.normalizer
    check_velocity_range(normalizer.vel_min, normalizer.vel_max)
    maps, simulated, misfit = resimulated_predictions(
        loaded.model, loaded.dataset, normalizer, loaded.device, count, batch_size
    )
    truth_misfit = resimulated_misfit(maps.truth, maps.seismic, batch_size, propagation_device(loaded.device))[1]
    shot = maps.seismic.shape[1] // 2
    pictures = {
        f"{DATA_FIT_PICTURES}/sample{index}_shot{shot}": render_gather_comparison(
            maps.seismic[index, shot].numpy(), simulated[index, shot].numpy()
        )
        for index in range(len(misfit))
    }
    log.info(
        "data misfit of %d predicted maps: mean %.4f, median %.4f (true maps: mean %.4f, the operator's floor); "
        "pictures in %s/",
        len(misfit),
        misfit.mean().item(),
        misfit.median().item(),
        truth_misfit.mean().item(),
        DATA_FIT_PICTURES,
    )
    scores = {
        "physics_samples": len(misfit),
        **misfit_summary("data_misfit", misfit),
        **misfit_summary("data_misfit_truth", truth_misfit),
        "data_misfit_per_sample": misfit.tolist(),
    }
    return scores, pictures


def evaluate_checkpoint(settings: EvaluateSettings, run_dir: str | Path) -> dict[str, Any]:
    """MAE / MSE / RMSE / SSIM of ``checkpoint`` on ``split`` of ``data`` (default: its training data), and with
    ``physics.samples`` > 0 the data misfit of that many re-simulated predictions."""
    loaded = load_trained(settings.config)
    model, data_cfg, dataset = loaded.model, loaded.data_cfg, loaded.dataset
    batch_size = settings.batch_size or loaded.config.get("trainer", {}).get("eval_batch_size", 32)
    metrics = evaluate(
        model, DataLoader(dataset, batch_size=batch_size), loaded.normalizer, loaded.device, show_progress=True
    )
    result = {
        "checkpoint": str(settings.checkpoint),
        "data": data_cfg.family,
        "split": settings.split,
        "samples": len(dataset),
        "step": loaded.step,
        **metrics,
    }
    log.info(
        "%s on %s/%s (%d samples): %s",
        settings.checkpoint,
        data_cfg.family,
        settings.split,
        len(dataset),
        format_metrics(metrics, EVALUATION_LINE, separator="  "),
    )
    pictures = {}
    physics = settings.physics
    if physics.samples > 0:
        scores, pictures = score_data_fit(loaded, physics.samples, physics.batch_size)
        result.update(scores)
    summary = {key: value for key, value in result.items() if isinstance(value, (int, float, str))}
    logger = loaded.task_logger(settings.config, run_dir, "evaluate")
    outputs = TaskOutputs(result, step=loaded.step, pictures=pictures, summary=summary)
    return publish(outputs, run_dir, "metrics.json", logger, picture_folder=DATA_FIT_PICTURES)
