"""A saved model on its device with the split and normalizer a task asked for, and its predictions: what evaluate,
refine, the loss landscape, the activation pictures and the representation comparison start from.

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

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fwilab.config.groups import DataSettings, read_data
from fwilab.data.build import build_split, normalizer_for, prepare_root
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.data.transforms import Normalizer
from fwilab.device import resolve_device
from fwilab.errors import ConfigError
from fwilab.models.build import build_model
from fwilab.tracking import build_logger
from fwilab.tracking.run_logger import RunLogger, model_artifact_name
from fwilab.training.checkpoint import BEST_WEIGHTS, SavedModel, load_model_weights, read_saved_model
from fwilab.training.record import RECORD_FILE
from fwilab.training.validation import Predictions, predict_first

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A saved model on its device, with the split and normalizer a script asked for."""

    model: nn.Module
    step: int
    config: DictConfig  # the run's config (model, data, loss, optimizer, ...); for an OpenFWI file, what the user named
    data_cfg: DataSettings
    dataset: OpenFWIDataset
    normalizer: Normalizer
    device: torch.device

    @property
    def tags(self) -> list[str]:
        """The W&B tags of a task on this model: those of the run that trained it."""
        return model_tags(self.config)

    def logged_config(self, task: DictConfig) -> dict[str, Any]:
        """What a checkpoint task's W&B run records as its config: the task's own, and the loaded run's under
        ``trained``."""
        return {**OmegaConf.to_container(task, resolve=True), "trained": OmegaConf.to_container(self.config)}

    def task_logger(self, task: DictConfig, run_dir: str | Path, job_type: str) -> RunLogger:
        """The logger of a task on this model (``task``: its composed config): the W&B run of ``job_type`` with the
        trained run's tags, the task's config beside the trained run's, and that run's model artifact as its input."""
        logger = build_logger(task.logger, run_dir, job_type, self.tags, self.logged_config(task), local_images=False)
        use_trained_model(logger, task.checkpoint)
        return logger


def model_tags(config: DictConfig) -> list[str]:
    """W&B tags that name what a run trained: the model's class, the optimizer's (absent for an OpenFWI
    checkpoint; the learning rate is in the config), the data family, and the objective unless supervised."""
    tags = [config.model._target_.rsplit(".", 1)[-1], str(config.data.family)]
    if config.get("optimizer") is not None:
        tags.insert(1, config.optimizer._target_.rsplit(".", 1)[-1].lower())
    objective = (config.get("objective") or {}).get("name", "supervised")
    if objective != "supervised":
        tags.append(objective)
    return tags


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


def _normalizer(saved: SavedModel, cfg: DictConfig, data_cfg: DataSettings, root: Path) -> Normalizer:
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
    data_cfg = read_data(cfg.data if cfg.get("data") is not None else trained.data)  # a saved run's: checked too
    device = resolve_device(cfg.device)
    model = build_model(trained.model)
    load_model_weights(model, saved.weights, saved.path)
    root = prepare_root(data_cfg)
    dataset = build_split(data_cfg, cfg.split, root=root)
    normalizer = _normalizer(saved, cfg, data_cfg, root)
    return TrainedModel(model.to(device).eval(), saved.step, trained, data_cfg, dataset, normalizer, device)


def predictions_of(loaded: TrainedModel, count: int) -> Predictions:
    """The loaded model's maps for the first ``count`` samples of the loaded split."""
    return predict_first(loaded.model, loaded.dataset, loaded.normalizer, loaded.device, count)


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
