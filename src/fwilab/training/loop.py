"""The training loop, readable top to bottom: data, model, optimizer, steps, validation, files.

Everything it writes lands in the run directory: ``metrics.json`` (rewritten at each validation,
so an interrupted run still reports), ``checkpoints/step_XXXXXXXX.pt`` (the newest
``trainer.keep_checkpoints``; ``last.pt`` links to the newest), ``checkpoints/best.pt``, and the
pictures and W&B run of the diagnostics.

A checkpoint holds everything the rest of the run depends on (weights, optimizer, scheduler,
random states, the metrics so far; the data order is a function of seed and step), so a run
resumed from it (``trainer.resume=auto``, the default, picks the newest in the run directory)
ends with the same weights as one never interrupted. SIGTERM / SIGUSR1 save a checkpoint after
the current step and stop cleanly.
"""

from __future__ import annotations

import logging
import math
import random
import resource
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from fwilab.data.build import build_data
from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.snapshots import ActivationSnapshots
from fwilab.errors import CheckpointError, ConfigError
from fwilab.io import write_json
from fwilab.logging import BackgroundLogger, RunLogger, build_logger
from fwilab.training.distributed import DistributedContext, init_distributed
from fwilab.training.batches import LoaderBatches, ResidentBatches, worker_settings
from fwilab.training.checkpoint import CheckpointDirectory, load_checkpoint, load_model_weights, restore_rng_state, rng_state
from fwilab.training.guard import NonFiniteGuard, TrainingDiverged
from fwilab.training.metrics import MetricAccumulator
from fwilab.training.performance import resolve_fast_path
from fwilab.training.preemption import PreemptionWatch
from fwilab.training.sampler import ResumableShuffleSampler

log = logging.getLogger(__name__)
FUSABLE_OPTIMIZERS = {"torch.optim.Adam", "torch.optim.AdamW"}


def peak_rss_gb() -> float:
    """This program's peak resident memory so far, in GB.

    Linux's VmHWM counts this program image only; ``ru_maxrss`` would also carry the peak of the
    process that forked it across ``exec``.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, normalizer: Normalizer, device: torch.device, context: DistributedContext | None = None
) -> dict[str, float]:
    """MAE / RMSE / SSIM of ``model`` over every batch of ``loader`` (each rank's shard, summed), in eval mode."""
    was_training = model.training
    model.eval()
    metrics = MetricAccumulator(normalizer.ms_per_unit)
    for seismic, velocity in loader:
        prediction = model(normalizer.seismic(seismic.to(device, non_blocking=True)))
        metrics.update(prediction, normalizer.velocity(velocity.to(device, non_blocking=True)))
    model.train(was_training)
    return metrics.compute(context.all_reduce_sum if context is not None else None)


def _resume_path(resume: str | None, checkpoints: CheckpointDirectory) -> Path | None:
    if resume in (None, "never"):
        return None
    if resume == "auto":
        return checkpoints.latest()
    return Path(resume)


def _check_settings(cfg: DictConfig) -> None:
    """Values that are wrong whatever the data: checked before any data is read or generated."""
    if not cfg.lr > 0:
        raise ConfigError(f"lr={cfg.lr} must be positive")
    if cfg.trainer.max_steps is None and cfg.trainer.epochs < 1:
        raise ConfigError(f"trainer.epochs={cfg.trainer.epochs} must be at least 1 (or set trainer.max_steps)")
    if cfg.trainer.max_steps is not None and cfg.trainer.max_steps < 1:
        raise ConfigError(f"trainer.max_steps={cfg.trainer.max_steps} must be at least 1")


def _check_batch_size(batch_size: int, train_size: int) -> None:
    if not 2 <= batch_size <= train_size:
        raise ConfigError(
            f"trainer.batch_size={batch_size} must be between 2 (BatchNorm needs two samples at the 1x1 bottleneck) "
            f"and the training split's {train_size} samples"
        )


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train, validate and checkpoint as ``cfg`` says; returns what ``metrics.json`` holds."""
    trainer = cfg.trainer
    context = init_distributed(trainer)
    try:
        return _train(cfg, Path(context.broadcast_from_main(str(run_dir))), context)
    finally:
        context.close()


def _train(cfg: DictConfig, run_dir: Path, context: DistributedContext) -> dict[str, Any]:
    trainer = cfg.trainer
    main = context.is_main
    if not main:
        logging.getLogger("fwilab").setLevel(logging.WARNING)  # rank 0 reports for everyone
    else:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        except OSError as error:
            raise ConfigError(f"cannot write to the run directory {run_dir}: {error.strerror}") from None
    _check_settings(cfg)
    seed_everything(cfg.seed)
    device = context.device

    data = build_data(cfg.data, seed=cfg.seed)
    _check_batch_size(trainer.batch_size, len(data.train))
    normalizer = data.normalizer
    sampler = ResumableShuffleSampler(len(data.train), trainer.batch_size, cfg.seed, context.rank, context.world_size)
    fast = resolve_fast_path(trainer, device, data.train)
    if fast.data_on_device:
        source = ResidentBatches(data.train, sampler, device, fast.storage_dtype)
    else:
        source = LoaderBatches(data.train, sampler, fast.loader_workers, device)
    val_shard = Subset(data.val, range(context.rank, len(data.val), context.world_size))
    val_loader = DataLoader(val_shard, batch_size=trainer.eval_batch_size, **worker_settings(fast.loader_workers))
    steps_per_epoch = sampler.batches_per_epoch
    total_steps = trainer.max_steps or trainer.epochs * steps_per_epoch
    val_every = trainer.val_every_steps or steps_per_epoch
    checkpoint_every = trainer.checkpoint_every_steps or val_every

    model = instantiate(cfg.model)
    if context.active and trainer.sync_batchnorm:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif context.is_main:
            log.warning("trainer.sync_batchnorm needs CUDA; on CPU each process normalizes over its own batch")
    model = model.to(device, memory_format=torch.channels_last if fast.channels_last else torch.preserve_format)
    replica = torch.compile(model) if fast.compile else model
    if context.active:
        replica = DistributedDataParallel(replica, device_ids=[device.index] if device.type == "cuda" else None)
    fused = {"fused": True} if device.type == "cuda" and cfg.optimizer._target_ in FUSABLE_OPTIMIZERS else {}
    optimizer = instantiate(cfg.optimizer, _convert_="all", **fused)(model.parameters())
    scaler = torch.amp.GradScaler(device.type, enabled=fast.precision == "fp16")
    scheduler = instantiate(cfg.scheduler, _convert_="all")(optimizer, total_steps=total_steps)
    criterion = instantiate(cfg.loss)
    n_parameters = sum(p.numel() for p in model.parameters())

    config = OmegaConf.to_container(cfg, resolve=True)
    record: dict[str, Any] = {
        "status": "running",
        "model": type(model).__name__,
        "parameters": n_parameters,
        "device": str(device),
        "train_samples": len(data.train),
        "val_samples": len(data.val),
        "total_steps": total_steps,
        "batch_size": trainer.batch_size * context.world_size,
        "world_size": context.world_size,
        "train_loss": [],
        "val_history": [],
        "final": None,
        "best": None,
        "train_samples_per_s": None,
        "train_throughput": [],
        "snapshot_blocked_s": [],
    }
    checkpoints = CheckpointDirectory(run_dir / "checkpoints", trainer.keep_checkpoints)
    running_loss = torch.zeros((), device=device)
    running_steps = 0
    start_step = 0
    earlier_wall_time = 0.0
    resume_from = _resume_path(trainer.resume, checkpoints)
    if resume_from is not None:
        state = load_checkpoint(resume_from)
        load_model_weights(model, state, resume_from)
        if state.get("batches_per_epoch") != steps_per_epoch or state.get("total_steps") != total_steps:
            raise CheckpointError(
                f"{resume_from} was made for {state.get('total_steps')} steps of {state.get('batches_per_epoch')} per epoch, "
                f"this run has {total_steps} of {steps_per_epoch}: resume with the same data, batch size and budget"
            )
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        record.update(state["record"])  # keys added since that checkpoint keep their fresh values
        running_loss += state["running_loss"]
        running_steps = state["running_steps"]
        start_step = state["step"]
        earlier_wall_time = record.get("wall_time_s", 0.0)
        log.info("resuming from %s at step %d", resume_from, start_step)
    log.info(
        "%s (%s parameters) on %s: %d train / %d val samples, %d steps of batch %d x %d process(es); %s",
        type(model).__name__, f"{n_parameters:,}", device, len(data.train), len(data.val), total_steps,
        trainer.batch_size, context.world_size, fast,
    )

    def checkpoint_state(step: int) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
            "step": step,
            "epoch": step // steps_per_epoch,
            "batches_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "running_loss": running_loss.detach().cpu(),
            "running_steps": running_steps,
            "record": record,
            "config": config,
            "normalizer": vars(normalizer),
        }

    snapshots = None
    if cfg.diagnostics.enabled and main:
        probe_seismic, probe_velocity = next(iter(val_loader))
        probe_inputs = normalizer.seismic(probe_seismic[: cfg.diagnostics.max_samples].to(device))
        snapshots = ActivationSnapshots(model, probe_inputs, probe_velocity, normalizer, cfg.diagnostics)
    logger = BackgroundLogger(build_logger(cfg, run_dir)) if main else RunLogger()
    guard = NonFiniteGuard(trainer.skip_nonfinite_steps, device)
    grad_clip = trainer.grad_clip_norm or math.inf

    model.train()
    batches = source.after(start_step)
    memory_format = torch.channels_last if fast.channels_last else torch.contiguous_format
    logged_samples = 0
    train_seconds = 0.0
    started = time.perf_counter() - earlier_wall_time
    interval_start = time.perf_counter()
    progress = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", disable=None)
    try:
        with PreemptionWatch() as preemption:
            for step in range(start_step + 1, total_steps + 1):
                epoch, seismic, velocity = next(batches)
                inputs = normalizer.seismic(seismic).contiguous(memory_format=memory_format)
                target = normalizer.velocity(velocity)
                with fast.autocast(device):
                    loss = criterion(replica(inputs), target)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                lr = optimizer.param_groups[0]["lr"]
                # fp16: the scaler owns overflowing gradients (it skips that step and lowers its scale)
                if guard.admit(step, loss.detach(), None if scaler.is_enabled() else grad_norm, lr):
                    scaler.step(optimizer)
                    running_loss += loss.detach().float()
                    running_steps += 1
                scaler.update()
                scheduler.step()

                if step % trainer.log_every_steps == 0 or step == total_steps:
                    guard.check()
                    mean_loss = (context.all_reduce_sum(running_loss.clone()) / max(running_steps, 1) / context.world_size).item()
                    now = time.perf_counter()
                    train_seconds += now - interval_start
                    samples = running_steps * trainer.batch_size * context.world_size
                    logged_samples += samples
                    samples_per_s = samples / (now - interval_start)
                    record["train_loss"].append([step, mean_loss])
                    record["train_throughput"].append([step, samples_per_s])
                    logger.log_metrics({"train/loss": mean_loss, "train/lr": lr, "train/samples_per_s": samples_per_s}, step)
                    progress.set_postfix(loss=f"{mean_loss:.4f}", samples_per_s=f"{samples_per_s:.1f}")
                    running_loss.zero_()
                    running_steps = 0
                    interval_start = now
                progress.update(1)

                validating = step % val_every == 0 or step == total_steps
                snapshotting = snapshots is not None and (validating or snapshots.due(step))
                stopping = context.any(preemption.requested is not None)
                checkpointing = validating or step % checkpoint_every == 0 or stopping
                if not (validating or snapshotting or checkpointing):
                    continue
                pause = time.perf_counter()
                guard.check()
                if snapshotting:  # the training thread only captures; the logger's worker renders
                    snapshot_start = time.perf_counter()
                    logger.log_rendered(partial(snapshots.pictures, snapshots.capture(), step), step)
                    record["snapshot_blocked_s"].append([step, time.perf_counter() - snapshot_start])
                if validating:
                    metrics = evaluate(model, val_loader, normalizer, device, context)
                    logger.log_metrics({f"val/{key}": value for key, value in metrics.items()}, step)
                    record["val_history"].append({"step": step, "epoch": epoch, **metrics})
                    record["final"] = {"step": step, **metrics}
                    log.info(
                        "step %d/%d epoch %d: val MAE %.4f (%.1f m/s) RMSE %.4f SSIM %.4f",
                        step, total_steps, epoch, metrics["mae"], metrics["mae_ms"], metrics["rmse"], metrics["ssim"],
                    )
                    if record["best"] is None or metrics["mae"] < record["best"]["mae"]:
                        record["best"] = {"step": step, **metrics}
                        if main:
                            checkpoints.save_best(checkpoint_state(step))
                if train_seconds > 0:
                    record["train_samples_per_s"] = logged_samples / train_seconds
                record["wall_time_s"] = time.perf_counter() - started
                if main:
                    if checkpointing:
                        checkpoints.save(step, checkpoint_state(step))
                    write_json(run_dir / "metrics.json", record)
                if stopping:
                    record.update(status="preempted", preempted_at_step=step)
                    if main:
                        write_json(run_dir / "metrics.json", record)
                    log.warning("stopped by %s at step %d; run again with hydra.run.dir=%s to resume", preemption.requested or "a signal to another rank", step, run_dir)
                    logger.finish("preempted")
                    return record
                interval_start += time.perf_counter() - pause
    except TrainingDiverged as error:
        record.update(status="diverged", error=str(error), wall_time_s=time.perf_counter() - started)
        if main:
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

    record.update(status="completed", wall_time_s=time.perf_counter() - started, peak_host_rss_gb=peak_rss_gb())
    if main:
        write_json(run_dir / "metrics.json", record)
    logger.log_summary({f"best/{key}": value for key, value in record["best"].items()})
    logger.log_checkpoint(checkpoints.folder / "best.pt", f"{type(model).__name__}-best")
    logger.finish("completed")
    return record
