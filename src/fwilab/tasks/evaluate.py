"""Load a saved model with the data and normalizer it was trained with; score it on a split (evaluate.py).

By default everything comes from the checkpoint: its data config (files, subset and
``subset_seed``) and the normalization constants the model was trained with, so re-evaluating a run
reproduces its ``metrics.json``. Another ``data=`` is scored with the checkpoint's normalizer unless
``normalization=data`` asks for that data's own constants. An OpenFWI checkpoint carries neither:
name the model and data (``model=inversionnet data=curvefault_a data.root=...``); the family's
published constants normalize.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from fwilab.data.build import build_split, normalizer_for, prepare_root
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.data.synthetic.forward import propagation_device
from fwilab.data.transforms import Normalizer
from fwilab.device import resolve_device
from fwilab.diagnostics.render import render_gather_comparison
from fwilab.errors import ConfigError
from fwilab.io import write_json
from fwilab.logging import RunLogger, build_logger
from fwilab.logging.run_logger import model_artifact_name
from fwilab.metric_registry import format_metrics
from fwilab.models.build import build_model
from fwilab.physics.misfit import check_velocity_range, resimulated_misfit
from fwilab.training.checkpoint import BEST_WEIGHTS, SavedModel, load_model_weights, read_saved_model
from fwilab.training.metrics import normalized_ssim
from fwilab.training.record import RECORD_FILE
from fwilab.training.validation import Predictions, evaluate, predict_first, resimulated_predictions

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A saved model on its device, with the split and normalizer a script asked for."""

    model: nn.Module
    step: int
    config: DictConfig  # the run's config (model, data, loss, optimizer, ...); for an OpenFWI file, what the user named
    data_cfg: DictConfig
    dataset: OpenFWIDataset
    normalizer: Normalizer
    device: torch.device


def _run_config(saved: SavedModel, cfg: DictConfig) -> DictConfig:
    """The saved run's config; for an OpenFWI checkpoint, the model and data the user named."""
    if saved.config is not None:
        if cfg.get("model") is not None:
            raise ConfigError(f"model=... is for OpenFWI checkpoints; {saved.path} carries its own model config")
        return OmegaConf.create(saved.config)
    if cfg.get("model") is None or cfg.get("data") is None:
        args = saved.openfwi_args or {}
        raise ConfigError(
            f"{saved.path} is an OpenFWI checkpoint (model {args.get('model', '?')}, dataset {args.get('dataset', '?')}): "
            "name the model and data, e.g. model=inversionnet data=curvefault_a data.root=DIR"
        )
    return OmegaConf.create(
        {"model": cfg.model, "data": cfg.data, "loss": {"_target_": "fwilab.training.losses.WeightedL1L2"}}
    )


def _normalizer(saved: SavedModel, cfg: DictConfig, data_cfg: DictConfig, root: Path) -> Normalizer:
    if cfg.normalization == "checkpoint" and saved.normalizer is not None:
        normalizer = Normalizer(**saved.normalizer)
        log.info("normalizing with the constants the model was trained with (checkpoint): %s", normalizer)
    else:
        normalizer = normalizer_for(data_cfg, root)
        log.info("normalizing with data=%s's own constants: %s", data_cfg.family, normalizer)
    return normalizer


def load_trained(cfg: DictConfig) -> TrainedModel:
    """The model of ``cfg.checkpoint`` and ``cfg.split`` of ``cfg.data`` (default: the data it was trained on)."""
    saved = read_saved_model(cfg.checkpoint)
    trained = _run_config(saved, cfg)
    data_cfg = cfg.data if cfg.get("data") is not None else trained.data
    device = resolve_device(cfg.device)
    model = build_model(trained.model)
    load_model_weights(model, saved.weights, saved.path)
    root = prepare_root(data_cfg)
    dataset = build_split(data_cfg, cfg.split, root=root)
    normalizer = _normalizer(saved, cfg, data_cfg, root)
    return TrainedModel(model.to(device).eval(), saved.step, trained, data_cfg, dataset, normalizer, device)


def use_trained_model(logger: RunLogger, checkpoint: str | Path) -> None:
    """Tell ``logger`` (W&B's lineage) which training run's model artifact this run used, when ``checkpoint`` holds
    it: ``best.pt`` or ``best_weights.pt`` in a training run's ``checkpoints/`` whose ``metrics.json`` names its W&B
    run. Another checkpoint (a step's, an OpenFWI file) is no artifact of a run: nothing is recorded."""
    path = Path(checkpoint)
    weights, record = path.parent / BEST_WEIGHTS, path.parent.parent / RECORD_FILE
    if path.name not in ("best.pt", BEST_WEIGHTS) or not weights.is_file() or not record.is_file():
        return
    try:
        run_id = json.loads(record.read_text()).get("wandb_run_id")
    except (OSError, ValueError, AttributeError):  # an unreadable record costs the lineage, never the result
        return
    if run_id:
        logger.use_model(weights, model_artifact_name(run_id))


def predictions_of(loaded: TrainedModel, count: int) -> Predictions:
    """The loaded model's maps for the first ``count`` samples of the loaded split."""
    return predict_first(loaded.model, loaded.dataset, loaded.normalizer, loaded.device, count)


def score_maps(
    velocity: torch.Tensor, truth: torch.Tensor, normalizer: Normalizer
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample MAE and SSIM of maps in m/s against the truth, as fwilab's metrics take them (normalized, OpenFWI's SSIM)."""
    prediction, target = normalizer.velocity(velocity), normalizer.velocity(truth)
    mae = (prediction - target).abs().flatten(1).mean(dim=1)
    return mae, normalized_ssim(prediction, target).float()


def misfit_summary(prefix: str, misfit: torch.Tensor) -> dict[str, float]:
    """``{prefix}_mean`` and ``{prefix}_median`` of per-sample misfits."""
    return {f"{prefix}_mean": misfit.mean().item(), f"{prefix}_median": misfit.median().item()}


def score_data_fit(
    loaded: TrainedModel, count: int, batch_size: int, run_dir: Path
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Re-simulate the predicted and the true maps of the first ``count`` samples; their relative L2 data misfits
    (the truth's is the operator's floor) and one picture per sample (the centre shot: observed, predicted, difference),
    written to ``data_fit/`` and returned by W&B key."""
    normalizer = loaded.normalizer
    check_velocity_range(normalizer.vel_min, normalizer.vel_max)
    maps, simulated, misfit = resimulated_predictions(
        loaded.model, loaded.dataset, normalizer, loaded.device, count, batch_size
    )
    truth_misfit = resimulated_misfit(maps.truth, maps.seismic, batch_size, propagation_device(loaded.device))[1]
    folder = run_dir / "data_fit"
    folder.mkdir(parents=True, exist_ok=True)
    shot = maps.seismic.shape[1] // 2
    pictures = {}
    for index in range(len(misfit)):
        picture = render_gather_comparison(maps.seismic[index, shot].numpy(), simulated[index, shot].numpy())
        Image.fromarray(picture).save(folder / f"sample{index}_shot{shot}.png")
        pictures[f"data_fit/sample{index}_shot{shot}"] = picture
    log.info(
        "data misfit of %d predicted maps: mean %.4f, median %.4f (true maps: mean %.4f, the operator's floor); "
        "pictures in %s",
        len(misfit),
        misfit.mean().item(),
        misfit.median().item(),
        truth_misfit.mean().item(),
        folder,
    )
    scores = {
        "physics_samples": len(misfit),
        **misfit_summary("data_misfit", misfit),
        **misfit_summary("data_misfit_truth", truth_misfit),
        "data_misfit_per_sample": misfit.tolist(),
    }
    return scores, pictures


def evaluate_checkpoint(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """MAE / MSE / RMSE / SSIM of ``cfg.checkpoint`` on ``cfg.split`` of ``cfg.data`` (default: its training data),
    and with ``physics.samples`` > 0 the data misfit of that many re-simulated predictions."""
    loaded = load_trained(cfg)
    model, data_cfg, dataset = loaded.model, loaded.data_cfg, loaded.dataset
    batch_size = cfg.get("batch_size") or loaded.config.get("trainer", {}).get("eval_batch_size", 32)
    metrics = evaluate(
        model, DataLoader(dataset, batch_size=batch_size), loaded.normalizer, loaded.device, show_progress=True
    )
    result = {
        "checkpoint": str(cfg.checkpoint),
        "data": data_cfg.family,
        "split": cfg.split,
        "samples": len(dataset),
        "step": loaded.step,
        **metrics,
    }
    log.info(
        "%s on %s/%s (%d samples): %s",
        cfg.checkpoint,
        data_cfg.family,
        cfg.split,
        len(dataset),
        format_metrics(metrics, (("mae", "mae_ms"), ("mse",), ("rmse", "rmse_ms"), ("ssim",)), separator="  "),
    )
    pictures = {}
    if cfg.physics.samples > 0:
        scores, pictures = score_data_fit(loaded, cfg.physics.samples, cfg.physics.batch_size, Path(run_dir))
        result.update(scores)
    result["status"] = "completed"
    write_json(Path(run_dir) / "metrics.json", result)
    logger = build_logger(
        OmegaConf.merge(loaded.config, {"logger": cfg.logger}), run_dir, "evaluate", local_images=False
    )
    use_trained_model(logger, cfg.checkpoint)
    logger.log_images(pictures, step=loaded.step)
    logger.log_summary({key: value for key, value in result.items() if isinstance(value, (int, float, str))})
    logger.finish("completed")
    return result
