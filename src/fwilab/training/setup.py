"""What a training run is built from, before its first step: its checked settings (``check_train``), data, model,
optimizer, the run directory, the checkpoint it continues, the record and the loggers. ``build_run`` returns a
complete ``Run``; ``fwilab.training.loop`` steps it.

A checkpoint holds the run's parts, named where ``build_run`` hands them to the ``CheckpointManager`` (weights,
optimizer, scheduler, scaler, interval meter, record, random states), the step and a fingerprint of what the run
depends on; the data order is a function of seed and step. So a run resumed from it (``trainer.resume=auto``, the
default, picks the newest in the run directory) ends with the same weights as one never interrupted, and a resume
with other settings is refused.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset

from fwilab.config.groups import MONITORED, DiagnosticsSettings, TrainerSettings
from fwilab.config.tasks import TrainSettings
from fwilab.data.build import DataBundle, build_data
from fwilab.data.openfwi import first_samples
from fwilab.data.transforms import Normalizer
from fwilab.diagnostics.snapshots import ActivationSnapshots, check_diagnostics
from fwilab.errors import ConfigError
from fwilab.io import atomic_write
from fwilab.metric_registry import REGISTRY
from fwilab.models.build import build_model
from fwilab.physics.misfit import check_velocity_range
from fwilab.tracking import BackgroundLogger, RunLogger, build_logger
from fwilab.training.batches import LoaderBatches, ResidentBatches, worker_settings
from fwilab.training.checkpoint import RunIdentity, Stateful, load_model_weights, read_saved_model
from fwilab.training.checkpoint_manager import CheckpointManager
from fwilab.training.distributed import DistributedContext
from fwilab.training.fast_path import FastPath, resolve_fast_path
from fwilab.training.fingerprint import run_fingerprint
from fwilab.training.guard import NonFiniteGuard
from fwilab.training.objectives import Objective, StepTools, objective_class
from fwilab.training.randomness import RandomStates, seed_everything
from fwilab.training.record import IntervalMeter, RunRecord
from fwilab.training.sampler import ResumableShuffleSampler
from fwilab.training.state import TrainState
from fwilab.training.trained_model import model_tags
from fwilab.training.validation import DataFit

log = logging.getLogger(__name__)
FUSABLE_OPTIMIZERS = {"torch.optim.Adam", "torch.optim.AdamW"}


def _check_batch_size(batch_size: int, world_size: int, train_size: int) -> None:
    if not batch_size * world_size <= train_size:  # at least 2: checked with the settings (check_train)
        raise ConfigError(
            f"trainer.batch_size={batch_size} x {world_size} process(es) must be at least 2 (BatchNorm needs two samples "
            f"at the 1x1 bottleneck) and at most the training split's {train_size} samples"
        )


def _checked_data(settings: TrainSettings, objective_type: type[Objective], world_size: int) -> DataBundle:
    """The run's data, the training split reading the labels its objective needs (``Objective.labelled_share``),
    refused where they cannot train it."""
    data = build_data(settings.data, objective_type.labelled_share(settings))
    _check_labels(settings, data)
    _check_batch_size(settings.trainer.batch_size, world_size, len(data.train))
    if settings.physics.samples:  # the validations re-simulate predictions: the operator must step the data's range
        check_velocity_range(data.normalizer.vel_min, data.normalizer.vel_max)
    return data


def _check_labels(settings: TrainSettings, data: DataBundle) -> None:
    """Refuse an objective that needs labels on a seismic-only training split, and a seismic-only validation split
    scored by a velocity metric (it can only report the data misfit)."""
    name = settings.objective.name
    if not len(data.train.labelled) and objective_class(name).labelled_share(settings) is None:
        raise ConfigError(
            f"objective={name} trains on velocity labels, but the training split of data.root={settings.data.root} "
            "is seismic only (no velocity files): train it with objective=physics objective.labelled_fraction=0"
        )
    if not len(data.val.labelled) and settings.trainer.monitor != "data_misfit":
        raise ConfigError(
            f"the validation split of data.root={settings.data.root} is seismic only (no velocity files): it can "
            f"report the data misfit only: set trainer.monitor=data_misfit and physics.samples > 0 (got "
            f"trainer.monitor={settings.trainer.monitor})"
        )


@dataclass(frozen=True)
class StepPlan:
    """When a step logs or validates (when it checkpoints is the ``CheckpointManager``'s)."""

    total_steps: int
    steps_per_epoch: int
    global_batch: int
    val_every: int
    log_every: int

    def logs(self, step: int) -> bool:
        return step % self.log_every == 0 or step == self.total_steps

    def validates(self, step: int) -> bool:
        return step % self.val_every == 0 or step == self.total_steps


@dataclass
class Run:
    """Everything the loop touches, complete when ``build_run`` returns it."""

    context: DistributedContext
    plan: StepPlan
    state: TrainState
    objective: Objective
    normalizer: Normalizer
    source: LoaderBatches | ResidentBatches
    val_loader: DataLoader
    guard: NonFiniteGuard
    meter: IntervalMeter
    record: RunRecord
    checkpoints: CheckpointManager
    logger: RunLogger
    snapshots: ActivationSnapshots | None
    data_fit: DataFit | None


def build_run(
    settings: TrainSettings, run_dir: Path, context: DistributedContext, started: Callable[[], None] | None = None
) -> Run:
    """Data, model, optimizer, files and loggers; resumes the newest checkpoint when asked. ``started`` is called
    when the checks have passed, before the run writes into ``run_dir``."""
    trainer, main, cfg = settings.trainer, context.is_main, settings.config
    _open_run_directory(run_dir, main)
    seed_everything(settings.seed)
    objective_type = objective_class(settings.objective.name)
    data = _checked_data(settings, objective_type, context.world_size)
    sampler = ResumableShuffleSampler(
        len(data.train), trainer.batch_size, settings.seed, context.rank, context.world_size
    )
    fast = context.broadcast_from_main(resolve_fast_path(trainer, context.device, data.train))  # ranks must agree
    torch.backends.cudnn.benchmark = fast.cudnn_benchmark
    plan = _step_plan(trainer, sampler.batches_per_epoch, trainer.batch_size * context.world_size)
    state, replica = _build_state(settings, context, fast, plan.total_steps)
    source, val_loader = _batches(data, sampler, fast, context, trainer.eval_batch_size)
    guard = NonFiniteGuard(trainer.skip_nonfinite_steps, context.device, scaler_skips=state.scaler.is_enabled())
    tools = _step_tools(settings, state, replica, data.normalizer, fast, guard, context, plan)
    objective = objective_type.build(settings, tools)
    meter = IntervalMeter(context.device, plan.global_batch)
    record = _new_record(run_dir, context, state, data, plan, trainer.monitor)
    identity = RunIdentity(
        config=OmegaConf.to_container(cfg, resolve=True),
        fingerprint=run_fingerprint(cfg, data, plan.global_batch, plan.total_steps),
        normalizer=vars(data.normalizer),
    )
    every = trainer.checkpoint_every_steps or plan.val_every
    parts = _checkpoint_parts(state, objective, meter, record)
    checkpoints = CheckpointManager(
        run_dir / "checkpoints", parts, identity, every, plan.steps_per_epoch, trainer.keep_checkpoints
    )
    state.step = checkpoints.resume(trainer.resume, context)
    _start(cfg, run_dir, context, data, plan, record, fast, started)
    snapshots = None
    if settings.diagnostics.enabled and main:
        snapshots = _probe_snapshots(settings.diagnostics, data, state.model, context.device)
    logger = _open_logger(cfg, run_dir, main, record)
    physics = settings.physics
    data_fit = DataFit(physics.samples, physics.batch_size) if physics.samples else None
    return Run(
        context,
        plan,
        state,
        objective,
        data.normalizer,
        source,
        val_loader,
        guard,
        meter,
        record,
        checkpoints,
        logger,
        snapshots,
        data_fit,
    )


def _step_tools(
    settings: TrainSettings,
    state: TrainState,
    replica: nn.Module,
    normalizer: Normalizer,
    fast: FastPath,
    guard: NonFiniteGuard,
    context: DistributedContext,
    plan: StepPlan,
) -> StepTools:
    """What the run's objective computes with: the velocity loss is the ``loss`` group's."""
    clip = settings.trainer.grad_clip_norm or math.inf
    loss = instantiate(settings.loss)
    return StepTools(
        state, replica, loss, normalizer, fast, clip, guard, context, plan.steps_per_epoch, plan.total_steps
    )


def _checkpoint_parts(
    state: TrainState, objective: Objective, meter: IntervalMeter, record: RunRecord
) -> dict[str, Stateful]:
    """What each checkpoint carries, by name, restored in this order: the model's parts, the objective's own (a
    critic, its optimizer), then the run's."""
    return {
        "model": state.model,
        "optimizer": state.optimizer,
        "scheduler": state.scheduler,
        "scaler": state.scaler,
        **objective.parts(),
        "meter": meter,
        "record": record,
        "rng": RandomStates(),  # last: nothing restored after it draws a random number
    }


def _batches(
    data: DataBundle, sampler: ResumableShuffleSampler, fast: FastPath, context: DistributedContext, eval_batch: int
) -> tuple[LoaderBatches | ResidentBatches, DataLoader]:
    """The training batches (resident on the device when the fast path says so) and this rank's validation share."""
    source = (
        ResidentBatches(data.train, sampler, context.device, fast.storage_dtype)
        if fast.data_on_device
        else LoaderBatches(data.train, sampler, fast.loader_workers, context.device)
    )
    val_loader = DataLoader(
        Subset(data.val, range(context.rank, len(data.val), context.world_size)),
        batch_size=eval_batch,
        **worker_settings(fast.loader_workers),
    )
    return source, val_loader


def _step_plan(trainer: TrainerSettings, steps_per_epoch: int, global_batch: int) -> StepPlan:
    val_every = trainer.val_every_steps or steps_per_epoch
    return StepPlan(
        total_steps=trainer.max_steps or trainer.epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        global_batch=global_batch,
        val_every=val_every,
        log_every=trainer.log_every_steps,
    )


def _new_record(
    run_dir: Path, context: DistributedContext, state: TrainState, data: DataBundle, plan: StepPlan, monitor: str
) -> RunRecord:
    """The run's record (rank 0 writes it), with the facts of the run and a new W&B run id."""
    parameters = sum(p.numel() for p in state.model.parameters())
    return RunRecord(
        run_dir if context.is_main else None,
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


def _start(
    cfg: DictConfig,
    run_dir: Path,
    context: DistributedContext,
    data: DataBundle,
    plan: StepPlan,
    record: RunRecord,
    fast: FastPath,
    started: Callable[[], None] | None,
) -> None:
    """The run starts here (until now a refused run has written nothing into its directory): ``started`` (the
    command's Hydra record and log file), its config, one line."""
    if started is not None:
        started()
    if context.is_main:
        atomic_write(
            run_dir / "config.yaml", lambda handle: handle.write(OmegaConf.to_yaml(cfg, resolve=True).encode())
        )
    facts = record.data
    log.info(
        f"{facts['model']} ({facts['parameters']:,} parameters) on {context.device}: {len(data.train)} train / "
        f"{len(data.val)} val samples, {plan.total_steps} steps of batch {cfg.trainer.batch_size} x "
        f"{context.world_size} process(es); {fast}"
    )


def _probe_snapshots(
    settings: DiagnosticsSettings, data: DataBundle, model: nn.Module, device: torch.device
) -> ActivationSnapshots:
    """Snapshots of the first validation samples of the whole split: the same pictures for any number of ranks."""
    count = min(settings.max_samples, len(data.val))
    check_diagnostics(settings, probe_samples=count)
    seismic, velocity = first_samples(data.val, count)
    return ActivationSnapshots(model, data.normalizer.seismic(seismic.to(device)), velocity, data.normalizer, settings)


def _open_logger(cfg: DictConfig, run_dir: Path, main: bool, record: RunRecord) -> RunLogger:
    """Rank 0's loggers (run directory, W&B) on a background worker; the other ranks log nothing."""
    if not main:
        return RunLogger()
    best_summaries = {f"val/{key}": "max" if REGISTRY[key].higher_is_better else "min" for key in MONITORED}
    return BackgroundLogger(
        build_logger(
            cfg.logger,
            run_dir,
            "train",
            model_tags(cfg),
            OmegaConf.to_container(cfg, resolve=True),
            run_id=record.data["wandb_run_id"],
            best_summaries=best_summaries,
        )
    )


def _open_run_directory(run_dir: Path, main: bool) -> None:
    if not main:
        logging.getLogger("fwilab").setLevel(logging.WARNING)  # rank 0 reports for everyone
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write to the run directory {run_dir}: {error.strerror}") from None


def _build_state(
    settings: TrainSettings, context: DistributedContext, fast: FastPath, total_steps: int
) -> tuple[TrainState, nn.Module]:
    """The model (from ``model.init_from`` weights when set), its training replica, optimizer, schedule and scaler."""
    device = context.device
    model = build_model(settings.model)
    if settings.model.get("init_from"):  # a _target_ group: model.init_from is checked, and may be absent
        saved = read_saved_model(settings.model.init_from)
        load_model_weights(model, saved.weights, saved.path)
        log.info("model weights from %s (step %d)", saved.path, saved.step)
    if context.active and settings.trainer.sync_batchnorm:
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
    fused = {"fused": True} if device.type == "cuda" and settings.optimizer._target_ in FUSABLE_OPTIMIZERS else {}
    optimizer = instantiate(settings.optimizer, _convert_="all", **fused)(model.parameters())
    scheduler = instantiate(settings.scheduler, _convert_="all")(optimizer, total_steps=total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=fast.precision == "fp16")
    return TrainState(model, optimizer, scheduler, scaler), replica
