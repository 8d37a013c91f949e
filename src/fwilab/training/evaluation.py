"""Score a saved checkpoint on a data split (the evaluate.py task)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from fwilab.data.build import build_split, normalizer_for, prepare_root
from fwilab.device import resolve_device
from fwilab.io import write_json
from fwilab.training.checkpoint import load_checkpoint, load_model_weights
from fwilab.training.loop import evaluate

log = logging.getLogger(__name__)


def evaluate_checkpoint(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """MAE / RMSE / SSIM of ``cfg.checkpoint`` on ``cfg.split`` of ``cfg.data`` (default: its training data)."""
    state = load_checkpoint(cfg.checkpoint)
    trained = OmegaConf.create(state["config"])
    data_cfg = cfg.data if cfg.get("data") is not None else trained.data
    device = resolve_device(cfg.device)
    model = instantiate(trained.model)
    load_model_weights(model, state, cfg.checkpoint)
    model.to(device)
    root = prepare_root(data_cfg)
    dataset = build_split(data_cfg, cfg.split, seed=cfg.seed, root=root)
    metrics = evaluate(model, DataLoader(dataset, batch_size=cfg.batch_size), normalizer_for(data_cfg, root), device)
    result = {"checkpoint": str(cfg.checkpoint), "data": data_cfg.family, "split": cfg.split, "samples": len(dataset), **metrics}
    log.info(
        "%s on %s/%s (%d samples): MAE %.4f (%.1f m/s)  RMSE %.4f (%.1f m/s)  SSIM %.4f",
        cfg.checkpoint, data_cfg.family, cfg.split, len(dataset),
        metrics["mae"], metrics["mae_ms"], metrics["rmse"], metrics["rmse_ms"], metrics["ssim"],
    )
    write_json(Path(run_dir) / "metrics.json", result)
    return result
