"""The training loop, readable top to bottom: build the run, then step, log, validate, checkpoint.

Everything it writes lands in the run directory: ``metrics.json`` (``RunRecord``, rewritten at
each validation, so an interrupted run still reports), ``checkpoints/step_XXXXXXXX.pt`` (the newest
``trainer.keep_checkpoints``; ``last.pt`` links to the newest), ``checkpoints/best.pt``, and the
pictures and W&B run of the diagnostics.

A checkpoint holds the ``TrainState`` (weights, optimizer, scheduler, scaler, step, random
states), the record so far and a fingerprint of what the run depends on; the data order is a
function of seed and step. So a run resumed from it (``trainer.resume=auto``, the default, picks
the newest in the run directory) ends with the same weights as one never interrupted, and a resume
with other settings is refused. SIGTERM, SIGUSR1 and submitit's preemption signal save a checkpoint
after the current step and stop; under submitit the job is then requeued and resumes here.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import resource
import secrets
import time
from dataclasses import dataclass
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

from fwilab.data.build import DataBundle, build_data
from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.snapshots import ActivationSnapshots, check_diagnostics
from fwilab.errors import CheckpointError, ConfigError, error_line
from fwilab.io import atomic_write
from fwilab.logging import BackgroundLogger, RunLogger, build_logger
from fwilab.metric_registry import format_validation
from fwilab.models.build import build_model
from fwilab.progress import Progress, format_duration
from fwilab.training.batches import LoaderBatches, ResidentBatches, worker_settings
from fwilab.training.checkpoint import (
    CheckpointDirectory,
    export_weights,
    load_checkpoint,
    load_model_weights,
    read_saved_model,
)
from fwilab.training.distributed import DistributedContext, init_distributed
from fwilab.training.fingerprint import check_fingerprint, run_fingerprint
from fwilab.training.guard import NonFiniteGuard, TrainingDiverged
from fwilab.training.performance import FastPath, resolve_fast_path
from fwilab.training.preemption import PreemptionWatch, hand_over
from fwilab.training.record import HIGHER_IS_BETTER, MONITORED, IntervalMeter, RunRecord
from fwilab.training.sampler import ResumableShuffleSampler
from fwilab.training.state import TrainState
from fwilab.training.validation import evaluate

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


def _check_batch_size(batch_size: int, world_size: int, train_size: int) -> None:
    if not (2 <= batch_size and batch_size * world_size <= train_size):
        raise ConfigError(
            f"trainer.batch_size={batch_size} x {world_size} process(es) must be at least 2 (BatchNorm needs two samples "
            f"at the 1x1 bottleneck) and at most the training split's {train_size} samples"
        )


@dataclass(frozen=True)
class StepPlan:
    """When a step logs, validates, checkpoints (always at validations) or snapshots."""

    total_steps: int
    steps_per_epoch: int
    global_batch: int
    val_every: int
    checkpoint_every: int
    log_every: int

    def logs(self, step: int) -> bool:
        return step % self.log_every == 0 or step == self.total_steps

    def validates(self, step: int) -> bool:
        return step % self.val_every == 0 or step == self.total_steps

    def checkpoints(self, step: int) -> bool:
        return self.validates(step) or step % self.checkpoint_every == 0


@dataclass
class Run:
    """Everything the loop touches, built once by ``_build_run``."""

    cfg: DictConfig
    context: DistributedContext
    plan: StepPlan
    state: TrainState
    replica: nn.Module  # what the training forward calls: compiled and/or DDP-wrapped model
    criterion: nn.Module
    normalizer: Normalizer
    source: LoaderBatches | ResidentBatches
    val_loader: DataLoader
    fast: FastPath
    guard: NonFiniteGuard
    meter: IntervalMeter
    record: RunRecord
    checkpoints: CheckpointDirectory
    fingerprint: dict[str, Any]
    config: dict[str, Any]
    logger: RunLogger | None = None
    snapshots: ActivationSnapshots | None = None

    def checkpoint(self) -> dict[str, Any]:
        return {
            **self.state.state_dict(),
            **self.meter.state_dict(),
            "epoch": self.state.step // self.plan.steps_per_epoch,
            "record": self.record.data,
            "fingerprint": self.fingerprint,
            "config": self.config,
            "normalizer": vars(self.normalizer),
        }

    def restore(self, saved: dict[str, Any], path: Path) -> None:
        """The inverse of ``checkpoint()``, after checking that ``saved`` belongs to this run."""
        check_fingerprint(saved.get("fingerprint"), self.fingerprint, path)
        self.state.load_state_dict(saved, path)
        self.meter.load_state_dict(saved)
        self.record.restore(saved["record"])


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train, validate and checkpoint as ``cfg`` says; returns what ``metrics.json`` holds."""
    context = init_distributed(cfg.trainer)
    cfg = copy.deepcopy(cfg)  # the caller's config stays as given
    cfg.trainer.distributed = context.active  # what ``auto`` became: config.yaml and the checks see the real run
    try:
        record = _train(cfg, Path(context.broadcast_from_main(str(run_dir))), context)
    finally:
        context.close()
    if record["status"] == "preempted" and record.get("preempted_by"):
        hand_over(record["preempted_by"])  # under submitit: requeue this job, which resumes here
    return record


def train_step(run: Run, seismic: torch.Tensor, velocity: torch.Tensor) -> float:
    """One optimizer step on a raw batch; the divergence guard decides whether the update applies. Returns its lr."""
    state, lr = run.state, run.state.lr
    memory_format = torch.channels_last if run.fast.channels_last else torch.contiguous_format
    inputs = run.normalizer.seismic(seismic).contiguous(memory_format=memory_format)
    with run.fast.autocast(inputs.device):
        loss = run.criterion(run.replica(inputs), run.normalizer.velocity(velocity))
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.unscale_(state.optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(state.model.parameters(), run.cfg.trainer.grad_clip_norm or math.inf)
    if run.guard.admit(state.step, loss.detach(), grad_norm, lr):
        state.scaler.step(state.optimizer)
        run.meter.add(loss)
    state.scaler.update()
    state.scheduler.step()
    return lr


def _train(cfg: DictConfig, run_dir: Path, context: DistributedContext) -> dict[str, Any]:
    run = _build_run(cfg, run_dir, context)
    state, plan = run.state, run.plan
    batches = run.source.after(state.step)
    progress = Progress(plan.total_steps, "train", unit="step", initial=state.step, log_lines=False)
    try:
        with PreemptionWatch() as preemption, progress:
            while state.step < plan.total_steps:
                state.step += 1
                epoch, seismic, velocity = next(batches)
                lr = train_step(run, seismic, velocity)
                if plan.logs(state.step):
                    _log_interval(run, progress, epoch, lr)
                progress.update(1)
                stopping = _stop_requested(run, preemption)
                snapshotting = run.snapshots is not None and (
                    plan.validates(state.step) or run.snapshots.due(state.step)
                )
                if plan.checkpoints(state.step) or snapshotting or stopping:
                    run.meter.pause()
                    _between_steps(run, epoch, snapshotting, stopping)
                    run.meter.resume()
                if stopping:
                    log.warning(
                        "stopped by %s at step %d; run again with hydra.run.dir=%s to resume",
                        preemption.requested or "a signal to another rank",
                        state.step,
                        run_dir,
                    )
                    if preemption.requested == "SIGINT":
                        return _close(run, "interrupted", interrupted_at_step=state.step)
                    return _close(run, "preempted", preempted_at_step=state.step, preempted_by=preemption.requested)
    except TrainingDiverged as error:
        _close(run, "diverged", error=str(error))
        raise
    except BaseException as error:
        _record_end(run, error)
        raise
    finally:
        if run.snapshots is not None:
            run.snapshots.close()
    return _close(run, "completed", peak_host_rss_gb=peak_rss_gb())


def _record_end(run: Run, error: BaseException) -> None:
    """A run ended by an exception says so: ``interrupted`` on a second Ctrl-C (the last checkpoint resumes
    it), else ``failed`` with the error line. Failing to write that (a full disk) is logged, never masks the error."""
    status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
    try:
        facts = {"interrupted_at_step": run.state.step} if status == "interrupted" else {"error": error_line(error)}
        run.record.save(status=status, **facts)
    except OSError as failure:
        log.error("cannot record the run's status %s: %s", status, error_line(failure))
    run.logger.finish(status)


def _stop_requested(run: Run, preemption: PreemptionWatch) -> bool:
    """Whether any rank was asked to stop; ranks agree only at log and checkpoint steps (one collective there, none elsewhere)."""
    step = run.state.step
    if run.context.active and not (run.plan.logs(step) or run.plan.checkpoints(step)):
        return False
    return run.context.any(preemption.requested is not None)


def _log_interval(run: Run, progress: Progress, epoch: int, lr: float) -> None:
    """Train loss, lr and samples/s since the last log line (one host sync: the guard's and the loss's).

    Also one log line, terminal or not, so a cluster's log file shows the run moving between validations.
    """
    run.guard.check()
    loss_sum = run.context.all_reduce_sum(run.meter.loss_sum.clone()).item() / run.context.world_size
    mean_loss, samples_per_s = run.meter.close_interval(loss_sum)
    step, total = run.state.step, run.plan.total_steps
    run.record.data["train_loss"].append([step, mean_loss])
    run.record.data["train_throughput"].append([step, samples_per_s])
    run.logger.log_metrics({"train/loss": mean_loss, "train/lr": lr, "train/samples_per_s": samples_per_s}, step)
    progress.set_postfix(loss=f"{mean_loss:.4f}", samples_per_s=f"{samples_per_s:.1f}")
    elapsed = run.record.elapsed_s()
    steps_done = step - progress.initial  # in this process: the rate includes validations and snapshots
    remaining = (total - step) * (time.perf_counter() - progress.started) / max(steps_done, 1)
    log.info(
        "step %d/%d epoch %d: loss %.4f  lr %.3g  %.1f samples/s  elapsed %s  remaining %s",
        step,
        total,
        epoch,
        mean_loss,
        lr,
        samples_per_s,
        format_duration(elapsed),
        format_duration(remaining),
    )


def _between_steps(run: Run, epoch: int, snapshotting: bool, stopping: bool) -> None:
    """Snapshot, validate, save: the work done between steps, never with damaged weights."""
    step, main = run.state.step, run.context.is_main
    run.guard.check()
    if snapshotting:  # the training thread only captures; the logger's worker renders
        started = time.perf_counter()
        run.logger.log_rendered(partial(run.snapshots.review, run.snapshots.capture(), step), step)
        run.record.data["snapshot_blocked_s"].append([step, time.perf_counter() - started])
    if run.context.active:  # every rank validates and saves rank 0's BatchNorm statistics, all ranks the same weights
        run.context.broadcast_buffers(run.state.model)
        run.record.data["weights_sha256"] = run.context.check_same_weights(run.state.model)
    if run.plan.validates(step):
        metrics = evaluate(run.state.model, run.val_loader, run.normalizer, run.context.device, run.context)
        run.logger.log_metrics({f"val/{key}": value for key, value in metrics.items()}, step)
        log.info("step %d/%d epoch %d: %s", step, run.plan.total_steps, epoch, format_validation(metrics))
        if run.record.add_validation(step, epoch, metrics) and main:
            run.checkpoints.save_best(run.checkpoint())
    run.record.save(**({"train_samples_per_s": run.meter.samples_per_s} if run.meter.samples_per_s else {}))
    if main and (run.plan.checkpoints(step) or stopping):
        run.checkpoints.save(step, run.checkpoint())


def _close(run: Run, status: str, **facts: Any) -> dict[str, Any]:
    """Write the final record and finish the loggers (W&B: a preempted run is marked so, not failed)."""
    record = run.record.save(status=status, **facts)
    if status == "completed":
        run.logger.log_summary({f"best/{key}": value for key, value in record["best"].items()})
        best = run.checkpoints.folder / "best.pt"
        if run.context.is_main and best.is_file():
            weights = export_weights(best, run.checkpoints.folder / "best_weights.pt")
            name = f"model-{record['wandb_run_id']}"  # one artifact per run; its versions are that run's
            run.logger.log_checkpoint(
                weights, name, ["best", "latest"], {"monitor": run.record.monitor, **record["best"]}
            )
    elif status == "diverged":
        run.logger.log_summary({"status": status, "error": facts["error"]})
    run.logger.finish(status)
    return record


def _build_run(cfg: DictConfig, run_dir: Path, context: DistributedContext) -> Run:
    """Data, model, optimizer, files and loggers; resumes the newest checkpoint when asked."""
    trainer, main = cfg.trainer, context.is_main
    _open_run_directory(run_dir, main)
    seed_everything(cfg.seed)
    data = build_data(cfg.data)
    _check_batch_size(trainer.batch_size, context.world_size, len(data.train))
    sampler = ResumableShuffleSampler(len(data.train), trainer.batch_size, cfg.seed, context.rank, context.world_size)
    fast = context.broadcast_from_main(resolve_fast_path(trainer, context.device, data.train))  # ranks must agree
    torch.backends.cudnn.benchmark = fast.cudnn_benchmark
    plan = _step_plan(trainer, sampler.batches_per_epoch, trainer.batch_size * context.world_size)
    state, replica = _build_state(cfg, context, fast, plan.total_steps)
    run = Run(
        cfg=cfg,
        context=context,
        plan=plan,
        state=state,
        replica=replica,
        criterion=instantiate(cfg.loss),
        normalizer=data.normalizer,
        fast=fast,
        source=(
            ResidentBatches(data.train, sampler, context.device, fast.storage_dtype)
            if fast.data_on_device
            else LoaderBatches(data.train, sampler, fast.loader_workers, context.device)
        ),
        val_loader=DataLoader(
            Subset(data.val, range(context.rank, len(data.val), context.world_size)),
            batch_size=trainer.eval_batch_size,
            **worker_settings(fast.loader_workers),
        ),
        guard=NonFiniteGuard(trainer.skip_nonfinite_steps, context.device, scaler_skips=state.scaler.is_enabled()),
        meter=IntervalMeter(context.device, plan.global_batch),
        record=_new_record(run_dir, context, state, data, plan, trainer.get("monitor", "mae")),
        checkpoints=CheckpointDirectory(run_dir / "checkpoints", trainer.keep_checkpoints),
        fingerprint=run_fingerprint(cfg, data, plan.global_batch, plan.total_steps),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    _resume_or_start(run, trainer.resume)
    if main:  # the run starts here: until now a refused run has written nothing into its directory
        atomic_write(
            run_dir / "config.yaml", lambda handle: handle.write(OmegaConf.to_yaml(cfg, resolve=True).encode())
        )
    facts = run.record.data
    log.info(
        f"{facts['model']} ({facts['parameters']:,} parameters) on {context.device}: {len(data.train)} train / "
        f"{len(data.val)} val samples, {plan.total_steps} steps of batch {trainer.batch_size} x {context.world_size} "
        f"process(es); {fast}"
    )
    if cfg.diagnostics.enabled and main:
        run.snapshots = _probe_snapshots(cfg.diagnostics, data, state.model, context.device)
    run.logger = RunLogger()
    if main:
        best_summaries = {f"val/{key}": "max" if key in HIGHER_IS_BETTER else "min" for key in MONITORED}
        run.logger = BackgroundLogger(
            build_logger(cfg, run_dir, "train", run_id=facts["wandb_run_id"], best_summaries=best_summaries)
        )
    return run


def _step_plan(trainer: DictConfig, steps_per_epoch: int, global_batch: int) -> StepPlan:
    val_every = trainer.val_every_steps or steps_per_epoch
    return StepPlan(
        total_steps=trainer.max_steps or trainer.epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        global_batch=global_batch,
        val_every=val_every,
        checkpoint_every=trainer.checkpoint_every_steps or val_every,
        log_every=trainer.log_every_steps,
    )


def _new_record(
    run_dir: Path, context: DistributedContext, state: TrainState, data: DataBundle, plan: StepPlan, monitor: str
) -> RunRecord:
    """The run's record (rank 0 writes it), with the facts of the run and a new W&B run id."""
    parameters = sum(p.numel() for p in state.model.parameters())
    return RunRecord(
        run_dir / "metrics.json" if context.is_main else None,
        monitor=monitor,
        model=type(state.model).__name__,
        parameters=parameters,
        device=str(context.device),
        train_samples=len(data.train),
        val_samples=len(data.val),
        total_steps=plan.total_steps,
        batch_size=plan.global_batch,
        world_size=context.world_size,
        wandb_run_id=secrets.token_hex(4),
    )


def _probe_snapshots(
    settings: DictConfig, data: DataBundle, model: nn.Module, device: torch.device
) -> ActivationSnapshots:
    """Snapshots of the first validation samples of the whole split: the same pictures for any number of ranks."""
    count = min(settings.max_samples, len(data.val))
    check_diagnostics(settings, probe_samples=count)
    seismic, velocity = (torch.stack(items) for items in zip(*(data.val[index] for index in range(count))))
    return ActivationSnapshots(model, data.normalizer.seismic(seismic.to(device)), velocity, data.normalizer, settings)


def _open_run_directory(run_dir: Path, main: bool) -> None:
    if not main:
        logging.getLogger("fwilab").setLevel(logging.WARNING)  # rank 0 reports for everyone
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write to the run directory {run_dir}: {error.strerror}") from None


def _build_state(
    cfg: DictConfig, context: DistributedContext, fast: FastPath, total_steps: int
) -> tuple[TrainState, nn.Module]:
    """The model (from ``model.init_from`` weights when set), its training replica, optimizer, schedule and scaler."""
    device = context.device
    model = build_model(cfg.model)
    if cfg.model.get("init_from"):
        saved = read_saved_model(cfg.model.init_from)
        load_model_weights(model, saved.weights, saved.path)
        log.info("model weights from %s (step %d)", saved.path, saved.step)
    if context.active and cfg.trainer.sync_batchnorm:
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif context.is_main:
            log.warning("trainer.sync_batchnorm needs CUDA; on CPU each process normalizes over its own batch")
    model = model.to(device, memory_format=torch.channels_last if fast.channels_last else torch.preserve_format)
    replica = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if context.active
        else model
    )
    if fast.compile:  # outside DDP, so Dynamo sees DDP's buckets and overlaps the all-reduce with the backward pass
        replica = torch.compile(replica)
    fused = {"fused": True} if device.type == "cuda" and cfg.optimizer._target_ in FUSABLE_OPTIMIZERS else {}
    optimizer = instantiate(cfg.optimizer, _convert_="all", **fused)(model.parameters())
    scheduler = instantiate(cfg.scheduler, _convert_="all")(optimizer, total_steps=total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=fast.precision == "fp16")
    return TrainState(model, optimizer, scheduler, scaler), replica


def _resume_or_start(run: Run, resume: str | None) -> None:
    """Continue a checkpoint (``auto``: the newest here; or a path) after checking it is this run, or start fresh.

    A run that does not continue the newest checkpoint here moves the folder's checkpoints aside
    (and says where): they belong to another timeline.
    """
    if resume in (None, "auto"):
        newest, saved = _newest_intact(run.checkpoints, run.context.is_main)
        path = newest
    else:
        newest = run.checkpoints.latest()
        path = None if resume == "never" else Path(str(resume))
        saved = load_checkpoint(path) if path is not None else None
    run.context.broadcast_from_main(None)  # every rank has read it before rank 0 moves anything
    if run.context.is_main and (path is None or newest is None or path.resolve() != newest.resolve()):
        moved = run.checkpoints.move_aside()
        if moved is not None:
            log.warning(
                "trainer.resume=%s: the checkpoints already in %s were moved to %s",
                resume,
                run.checkpoints.folder,
                moved,
            )
    if saved is not None:
        run.restore(saved, path)
        log.info("resuming from %s at step %d", path, run.state.step)


def _newest_intact(checkpoints: CheckpointDirectory, main: bool) -> tuple[Path | None, dict[str, Any] | None]:
    """The newest step checkpoint that reads, and its content. A damaged newer one (a truncated file) is renamed
    ``*.pt.damaged`` (by rank 0) with a warning, so the run continues the intact one and retention never counts it."""
    files = checkpoints.step_files()
    for index in reversed(range(len(files))):
        try:
            return files[index], load_checkpoint(files[index])
        except CheckpointError as error:
            if index == 0:
                raise CheckpointError(f"{error}; no intact checkpoint before it in {checkpoints.folder}") from None
            log.warning(
                "%s; moved to %s.damaged, resuming from the newest intact one before it", error, files[index].name
            )
            if main:
                files[index].rename(files[index].with_name(files[index].name + ".damaged"))
    return None, None
