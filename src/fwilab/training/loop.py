"""The training loop, in call order: step, then what this step does besides (decided once), then the end.

Everything it writes lands in the run directory: ``metrics.json`` (``RunRecord``, rewritten at
each validation, so an interrupted run still reports), ``checkpoints/step_XXXXXXXX.pt`` (the newest
``trainer.keep_checkpoints``; ``last.pt`` links to the newest), ``checkpoints/best.pt``, and the
pictures and W&B run of the diagnostics. ``fwilab.training.setup`` builds the run it steps, resumed
from a checkpoint when there is one. SIGTERM, SIGUSR1 and submitit's preemption signal save a
checkpoint after the current step and stop; under submitit the job is then requeued and resumes here.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from fwilab.config.tasks import TrainSettings, check_snapshots_in_parallel
from fwilab.device import peak_rss_gb
from fwilab.errors import error_line
from fwilab.metric_registry import format_validation
from fwilab.progress import Progress, format_duration
from fwilab.tracking.run_logger import model_artifact_name
from fwilab.training.batches import TrainBatch
from fwilab.training.distributed import DistributedContext, init_distributed
from fwilab.training.guard import TrainingDiverged
from fwilab.training.preemption import PreemptionWatch, hand_over
from fwilab.training.record import MAIN_LOSS
from fwilab.training.setup import Run, build_run
from fwilab.training.validation import evaluate

log = logging.getLogger(__name__)


def train(settings: TrainSettings, run_dir: str | Path, started: Callable[[], None] | None = None) -> dict[str, Any]:
    """Train, validate and checkpoint as ``settings`` say; returns what ``metrics.json`` holds. Only checked settings
    (``check_train``) are taken: a raw config is refused, so no run starts unchecked. ``started`` is called once the
    run has passed its checks (the resume's included), before it writes its own files into ``run_dir``."""
    if not isinstance(settings, TrainSettings):
        raise TypeError(
            f"train() takes the checked settings of fwilab.training.train_settings.check_train, not a "
            f"{type(settings).__name__}"
        )
    context = init_distributed(settings.trainer)
    try:
        record = _train(_resolved(settings, context), Path(context.broadcast_from_main(str(run_dir))), context, started)
    finally:
        context.close()
    if record["status"] == "preempted" and record.get("preempted_by"):
        hand_over(record["preempted_by"])  # under submitit: requeue this job, which resumes here
    return record


def _resolved(settings: TrainSettings, context: DistributedContext) -> TrainSettings:
    """``settings`` with what ``trainer.distributed=auto`` became: config.yaml and the checks see the real run."""
    config = copy.deepcopy(settings.config)  # the caller's config stays as given
    config.trainer.distributed = context.active
    resolved = replace(settings, trainer=replace(settings.trainer, distributed=context.active), config=config)
    check_snapshots_in_parallel(resolved)
    return resolved


def _train(
    settings: TrainSettings, run_dir: Path, context: DistributedContext, started: Callable[[], None] | None
) -> dict[str, Any]:
    run = build_run(settings, run_dir, context, started)
    state, plan = run.state, run.plan
    batches = run.source.after(state.step)
    progress = Progress(plan.total_steps, "train", unit="step", initial=state.step, log_lines=False)
    try:
        with PreemptionWatch() as preemption, progress:
            while state.step < plan.total_steps:
                state.step += 1
                epoch, batch = next(batches)
                lr = train_step(run, batch)
                due = _due(run, preemption)
                if due.log:
                    _log_interval(run, progress, epoch, lr)
                progress.update(1)
                if due.checkpoint or due.snapshot:
                    _between_steps(run, epoch, due)
                if due.stop:
                    return _stop(run, preemption.requested, run_dir)
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


def train_step(run: Run, batch: TrainBatch) -> float:
    """One training step of the run's objective (its updates pass the divergence guard); returns the model's lr."""
    lr = run.state.lr
    losses = run.objective.step(batch)
    if losses:
        run.meter.add(losses)
    return lr


@dataclass(frozen=True)
class Due:
    """What a step does besides its update. A checkpoint is due at every validation and at a stop."""

    log: bool
    snapshot: bool
    validate: bool
    checkpoint: bool
    stop: bool


def _due(run: Run, preemption: PreemptionWatch) -> Due:
    """This step's work, decided once. Ranks agree on a stop only at log and checkpoint steps (one collective
    there, none elsewhere)."""
    step, plan, context = run.state.step, run.plan, run.context
    logs, validates = plan.logs(step), plan.validates(step)
    checkpoints = run.checkpoints.due(step, validates)
    stop = (logs or checkpoints or not context.active) and context.any(preemption.requested is not None)
    snapshot = run.snapshots is not None and (validates or run.snapshots.due(step))
    return Due(log=logs, snapshot=snapshot, validate=validates, checkpoint=checkpoints or stop, stop=stop)


def _log_interval(run: Run, progress: Progress, epoch: int, lr: float) -> None:
    """Train loss, lr and samples/s since the last log line (one host sync: the guard's and the loss's).

    Also one log line, terminal or not, so a cluster's log file shows the run moving between validations.
    """
    run.guard.check()
    loss_sum = run.context.all_reduce_sum(run.meter.loss_sum.clone()).item() / run.context.world_size
    mean_loss, samples_per_s = run.meter.close_interval(loss_sum)
    step, total = run.state.step, run.plan.total_steps
    named = {
        name: value
        for name, value in run.meter.close_named(run.context.all_reduce_sum, run.context.union).items()
        if name != MAIN_LOSS
    }
    run.record.data["train_loss"].append([step, mean_loss])
    for name, value in named.items():
        run.record.data["train_losses"].setdefault(name, []).append([step, value])
    run.record.data["train_throughput"].append([step, samples_per_s])
    losses = {f"train/{name}": value for name, value in named.items()}
    run.logger.log_metrics(
        {"train/loss": mean_loss, **losses, "train/lr": lr, "train/samples_per_s": samples_per_s}, step
    )
    progress.set_postfix(loss=f"{mean_loss:.4f}", samples_per_s=f"{samples_per_s:.1f}")
    elapsed = run.record.elapsed_s()
    log.info(
        "step %d/%d epoch %d: loss %.4f  lr %.3g  %.1f samples/s  elapsed %s  remaining %s",
        step,
        total,
        epoch,
        mean_loss,
        lr,
        samples_per_s,
        format_duration(elapsed),
        format_duration(progress.remaining_s(step)),  # the rate includes validations and snapshots
    )


def _between_steps(run: Run, epoch: int, due: Due) -> None:
    """Snapshot, validate, save: the work done between steps, never with damaged weights, off the meter's clock."""
    step, main = run.state.step, run.context.is_main
    run.meter.pause()
    run.guard.check()
    if due.snapshot:  # the training thread only captures; the logger's worker renders
        started = time.perf_counter()
        run.logger.log_rendered(partial(run.snapshots.review, run.snapshots.capture(), step), step)
        run.record.data["snapshot_blocked_s"].append([step, time.perf_counter() - started])
    if run.context.active:  # every rank validates and saves rank 0's BatchNorm statistics, all ranks the same weights
        run.context.broadcast_buffers(run.state.model)
        run.record.data["weights_sha256"] = run.context.check_same_weights(run.state.model)
        for part in run.objective.parts().values():  # an objective's own networks (a critic): the same on every rank
            if isinstance(part, torch.nn.Module):
                run.context.broadcast_buffers(part)
                run.context.check_same_weights(part)
    if due.validate:
        labelled = len(run.val_loader.dataset.dataset.labelled) > 0  # a seismic-only split: the data misfit only
        metrics = (
            evaluate(run.state.model, run.val_loader, run.normalizer, run.context.device, run.context)
            if labelled
            else {}
        )
        if run.data_fit is not None:
            model, normalizer, device = run.state.model, run.normalizer, run.context.device
            metrics["data_misfit"] = run.data_fit.mean_misfit(model, run.val_loader.dataset, normalizer, device)
        run.logger.log_metrics({f"val/{key}": value for key, value in metrics.items()}, step)
        log.info("step %d/%d epoch %d: %s", step, run.plan.total_steps, epoch, format_validation(metrics))
        if run.record.add_validation(step, epoch, metrics) and main:
            run.checkpoints.save_best(step)
    run.record.save(**({"train_samples_per_s": run.meter.samples_per_s} if run.meter.samples_per_s else {}))
    if main and due.checkpoint:
        run.checkpoints.save(step)
    run.meter.resume()


def _stop(run: Run, requested: str | None, run_dir: Path) -> dict[str, Any]:
    """End a run asked to stop (its checkpoint is saved): Ctrl-C interrupts it, any other signal preempts it."""
    log.warning(
        "stopped by %s at step %d; run again with hydra.run.dir=%s to resume",
        requested or "a signal to another rank",
        run.state.step,
        run_dir,
    )
    if requested == "SIGINT":
        return _close(run, "interrupted", interrupted_at_step=run.state.step)
    return _close(run, "preempted", preempted_at_step=run.state.step, preempted_by=requested)


def _close(run: Run, status: str, **facts: Any) -> dict[str, Any]:
    """Write the final record and finish the loggers (W&B: a preempted run is marked so, not failed)."""
    record = run.record.save(status=status, **facts)
    if status == "completed":
        run.logger.log_summary({f"best/{key}": value for key, value in record["best"].items()})
        weights = run.checkpoints.export_best_weights() if run.context.is_main else None
        if weights is not None:
            run.logger.log_checkpoint(
                weights,
                model_artifact_name(record["wandb_run_id"]),
                ["best", "latest"],
                {"monitor": run.record.monitor, **record["best"]},
            )
    elif status == "diverged":
        run.logger.log_summary({"status": status, "error": facts["error"]})
    run.logger.finish(status)
    return record


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
