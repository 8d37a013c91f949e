"""Load a saved checkpoint with the data it should see; score it on a split (the evaluate.py task)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from fwilab.data.build import build_split, normalizer_for, prepare_root
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.data.transforms import Normalizer
from fwilab.device import resolve_device
from fwilab.io import write_json
from fwilab.training.checkpoint import load_checkpoint, load_model_weights
from fwilab.training.loop import evaluate

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A checkpoint's model on its device, with the split and normalizer a script asked for."""

    model: nn.Module
    step: int
    config: DictConfig
    data_cfg: DictConfig
    dataset: OpenFWIDataset
    normalizer: Normalizer
    device: torch.device


def load_trained(cfg: DictConfig) -> TrainedModel:
    """The model of ``cfg.checkpoint`` and ``cfg.split`` of ``cfg.data`` (default: the data it was trained on)."""
    state = load_checkpoint(cfg.checkpoint)
    trained = OmegaConf.create(state["config"])
    data_cfg = cfg.data if cfg.get("data") is not None else trained.data
    device = resolve_device(cfg.device)
    model = instantiate(trained.model)
    load_model_weights(model, state, cfg.checkpoint)
    root = prepare_root(data_cfg)
    dataset = build_split(data_cfg, cfg.split, seed=cfg.seed, root=root)
    return TrainedModel(model.to(device).eval(), int(state.get("step", 0)), trained, data_cfg, dataset, normalizer_for(data_cfg, root), device)


def evaluate_checkpoint(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """MAE / RMSE / SSIM of ``cfg.checkpoint`` on ``cfg.split`` of ``cfg.data`` (default: its training data)."""
    loaded = load_trained(cfg)
    model, data_cfg, dataset = loaded.model, loaded.data_cfg, loaded.dataset
    metrics = evaluate(model, DataLoader(dataset, batch_size=cfg.batch_size), loaded.normalizer, loaded.device)
    result = {"checkpoint": str(cfg.checkpoint), "data": data_cfg.family, "split": cfg.split, "samples": len(dataset), **metrics}
    log.info(
        "%s on %s/%s (%d samples): MAE %.4f (%.1f m/s)  RMSE %.4f (%.1f m/s)  SSIM %.4f",
        cfg.checkpoint, data_cfg.family, cfg.split, len(dataset),
        metrics["mae"], metrics["mae_ms"], metrics["rmse"], metrics["rmse_ms"], metrics["ssim"],
    )
    write_json(Path(run_dir) / "metrics.json", result)
    return result
