"""The training loop, readable top to bottom: data, model, optimizer, steps, validation, files.

Everything it writes lands in the run directory: ``metrics.json`` (rewritten at each validation,
so an interrupted run still reports), ``checkpoints/last.pt`` and ``checkpoints/best.pt``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from fwilab.data.build import build_data
from fwilab.data.transforms import Normalizer
from fwilab.device import resolve_device
from fwilab.diagnostics.snapshots import ActivationSnapshots
from fwilab.errors import ConfigError, FwilabError
from fwilab.io import write_json
from fwilab.logging import build_logger
from fwilab.training.checkpoint import save_checkpoint
from fwilab.training.metrics import MetricAccumulator

log = logging.getLogger(__name__)


class TrainingDiverged(FwilabError):
    """The loss became NaN or Inf."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, normalizer: Normalizer, device: torch.device) -> dict[str, float]:
    """MAE / RMSE / SSIM of ``model`` over every batch of ``loader``, in eval mode."""
    was_training = model.training
    model.eval()
    metrics = MetricAccumulator(normalizer.ms_per_unit)
    for seismic, velocity in loader:
        prediction = model(normalizer.seismic(seismic.to(device, non_blocking=True)))
        metrics.update(prediction, normalizer.velocity(velocity.to(device, non_blocking=True)))
    model.train(was_training)
    return metrics.compute()


def _endless(loader: DataLoader) -> Iterator[tuple[int, Any]]:
    """(epoch, batch) pairs, reshuffling at every epoch, forever."""
    epoch = 0
    while True:
        for batch in loader:
            yield epoch, batch
        epoch += 1


def _check_config(cfg: DictConfig, train_size: int) -> None:
    if not cfg.lr > 0:
        raise ConfigError(f"lr={cfg.lr} must be positive")
    batch_size = cfg.trainer.batch_size
    if not 2 <= batch_size <= train_size:
        raise ConfigError(
            f"trainer.batch_size={batch_size} must be between 2 (BatchNorm needs two samples at the 1x1 bottleneck) "
            f"and the training split's {train_size} samples"
        )
    if cfg.trainer.max_steps is None and cfg.trainer.epochs < 1:
        raise ConfigError(f"trainer.epochs={cfg.trainer.epochs} must be at least 1 (or set trainer.max_steps)")
    if cfg.trainer.max_steps is not None and cfg.trainer.max_steps < 1:
        raise ConfigError(f"trainer.max_steps={cfg.trainer.max_steps} must be at least 1")


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train, validate and checkpoint as ``cfg`` says; returns what ``metrics.json`` holds."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    trainer = cfg.trainer
    seed_everything(cfg.seed)
    device = resolve_device(trainer.device)

    data = build_data(cfg.data, seed=cfg.seed)
    _check_config(cfg, len(data.train))
    normalizer = data.normalizer
    train_loader = DataLoader(
        data.train,
        batch_size=trainer.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=trainer.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    val_loader = DataLoader(data.val, batch_size=trainer.eval_batch_size, num_workers=trainer.num_workers)
    steps_per_epoch = len(train_loader)
    total_steps = trainer.max_steps or trainer.epochs * steps_per_epoch
    val_every = trainer.val_every_steps or steps_per_epoch

    model = instantiate(cfg.model).to(device)
    optimizer = instantiate(cfg.optimizer, _convert_="all")(model.parameters())
    scheduler = instantiate(cfg.scheduler, _convert_="all")(optimizer, total_steps=total_steps)
    criterion = instantiate(cfg.loss)
    n_parameters = sum(p.numel() for p in model.parameters())
    log.info(
        "%s (%s parameters) on %s: %d train / %d val samples, %d steps of batch %d",
        type(model).__name__, f"{n_parameters:,}", device, len(data.train), len(data.val), total_steps, trainer.batch_size,
    )

    config = OmegaConf.to_container(cfg, resolve=True)
    record: dict[str, Any] = {
        "status": "running",
        "model": type(model).__name__,
        "parameters": n_parameters,
        "device": str(device),
        "train_samples": len(data.train),
        "val_samples": len(data.val),
        "total_steps": total_steps,
        "batch_size": trainer.batch_size,
        "train_loss": [],
        "val_history": [],
        "final": None,
        "best": None,
    }
    checkpoints = run_dir / "checkpoints"

    def checkpoint_state(step: int, epoch: int) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": epoch,
            "config": config,
            "normalizer": vars(normalizer),
        }

    snapshots = None
    if cfg.diagnostics.enabled:
        probe_seismic, probe_velocity = next(iter(val_loader))
        probe_inputs = normalizer.seismic(probe_seismic[: cfg.diagnostics.max_samples].to(device))
        snapshots = ActivationSnapshots(model, probe_inputs, probe_velocity, normalizer, cfg.diagnostics)
    logger = build_logger(cfg, run_dir)

    model.train()
    batches = _endless(train_loader)
    running_loss = torch.zeros((), device=device)
    running_steps = 0
    logged_samples = 0
    train_seconds = 0.0
    started = time.perf_counter()
    interval_start = started
    progress = tqdm(total=total_steps, desc="train", unit="step", disable=None)
    try:
        for step in range(1, total_steps + 1):
            epoch, (seismic, velocity) = next(batches)
            inputs = normalizer.seismic(seismic.to(device, non_blocking=True))
            target = normalizer.velocity(velocity.to(device, non_blocking=True))
            loss = criterion(model(inputs), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running_loss += loss.detach()
            running_steps += 1

            if step % trainer.log_every_steps == 0 or step == total_steps:
                mean_loss = (running_loss / running_steps).item()
                lr = optimizer.param_groups[0]["lr"]
                if not math.isfinite(mean_loss):
                    raise TrainingDiverged(f"loss became {mean_loss} by step {step} (lr={lr:.3g}); lower lr or add warm-up")
                now = time.perf_counter()
                train_seconds += now - interval_start
                logged_samples += running_steps * trainer.batch_size
                samples_per_s = running_steps * trainer.batch_size / (now - interval_start)
                record["train_loss"].append([step, mean_loss])
                logger.log_metrics({"train/loss": mean_loss, "train/lr": lr, "train/samples_per_s": samples_per_s}, step)
                progress.set_postfix(loss=f"{mean_loss:.4f}", samples_per_s=f"{samples_per_s:.1f}")
                running_loss.zero_()
                running_steps = 0
                interval_start = now
            progress.update(1)

            validating = step % val_every == 0 or step == total_steps
            snapshotting = snapshots is not None and (validating or snapshots.due(step))
            if not (validating or snapshotting):
                continue
            pause = time.perf_counter()
            if snapshotting:
                images, flags = snapshots.take()
                logger.log_images(images, step)
                for flag in flags:
                    log.warning("step %d snapshot: %s", step, flag)
            if validating:
                metrics = evaluate(model, val_loader, normalizer, device)
                logger.log_metrics({f"val/{key}": value for key, value in metrics.items()}, step)
                record["val_history"].append({"step": step, "epoch": epoch, **metrics})
                record["final"] = {"step": step, **metrics}
                save_checkpoint(checkpoints / "last.pt", checkpoint_state(step, epoch))
                if record["best"] is None or metrics["mae"] < record["best"]["mae"]:
                    record["best"] = {"step": step, **metrics}
                    save_checkpoint(checkpoints / "best.pt", checkpoint_state(step, epoch))
                log.info(
                    "step %d/%d epoch %d: val MAE %.4f (%.1f m/s) RMSE %.4f SSIM %.4f",
                    step, total_steps, epoch, metrics["mae"], metrics["mae_ms"], metrics["rmse"], metrics["ssim"],
                )
                record["train_samples_per_s"] = logged_samples / max(train_seconds, 1e-9)
                record["wall_time_s"] = time.perf_counter() - started
                write_json(run_dir / "metrics.json", record)
            interval_start += time.perf_counter() - pause
    except TrainingDiverged as error:
        record.update(status="diverged", error=str(error), wall_time_s=time.perf_counter() - started)
        write_json(run_dir / "metrics.json", record)
        logger.log_summary({"status": "diverged", "error": str(error)})
        logger.finish("diverged")
        raise
    except BaseException:
        logger.finish("failed")
        raise
    finally:
        progress.close()
        if snapshots is not None:
            snapshots.close()

    record.update(status="completed", wall_time_s=time.perf_counter() - started)
    write_json(run_dir / "metrics.json", record)
    logger.log_summary({f"best/{key}": value for key, value in record["best"].items()})
    logger.log_checkpoint(checkpoints / "best.pt", f"{type(model).__name__}-best")
    logger.finish("completed")
    return record
