"""The refine task: wave-equation FWI of a split's samples from one or more starts with the same budget: a
checkpoint's predictions (``network``), a smooth 1-D start (``1d``) and a user's velocity file (``file``)
(`fwilab-refine checkpoint=PATH split=val samples=4 iterations=100`; ``checkpoint=null data=...``: classical FWI).

The work is cut into batches of samples (``batch_size``), each refined from every start and saved as it
finishes (``batches/<first>-<stop>.pt``, atomically), so the same command in the same run directory
continues with the first unfinished batch after a kill, a preemption or Ctrl-C; the run directory's
``refine_run.json`` records the settings, and a resume with other settings is refused. Under torchrun
the ranks share the unfinished batches and rank 0 writes the outputs; ``shard=K/N`` refines one of N
parts (array tasks), and ``fwilab-refine-merge`` (``merge_runs``) writes one set of outputs from the parts.

Outputs in the run directory, for the samples in split order: ``network.npy`` (the network start) and
``refined_<start>.npy`` (OpenFWI velocity files, (n, 1, 70, 70) float32 m/s), ``metrics.json`` (the
table, OpenFWI's MAE / RMSE / SSIM of the refined maps under ``final``, per-iteration curves, seconds
per iteration per sample), ``pictures/`` and a W&B run with ``job_type`` refine. Gathers without
velocity files are scored by their data misfit alone.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fwilab.config.groups import DataSettings, read_data
from fwilab.config.tasks import RefineTaskSettings, sample_span, shard_of
from fwilab.data.build import build_split, normalizer_for, prepare_root
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.data.synthetic.faithfulness import measured_depth_range
from fwilab.data.transforms import Normalizer
from fwilab.device import available_cores, resolve_device
from fwilab.diagnostics.render import render_refinement
from fwilab.errors import ConfigError, DataError, error_line
from fwilab.io import atomic_write, write_json
from fwilab.metric_registry import REFINEMENT_COLUMNS, format_table
from fwilab.physics.forward import cores_of_this_process, propagation_device, torch_threads
from fwilab.physics.misfit import misfit_summary, resimulated_misfit
from fwilab.physics.refine import depth_ramp, refine
from fwilab.plotting import figure_to_rgb
from fwilab.progress import Progress, format_duration
from fwilab.tracking import TaskOutputs, build_logger, publish
from fwilab.tracking.run_logger import RunLogger
from fwilab.training.distributed import DistributedContext
from fwilab.training.fingerprint import split_digest
from fwilab.training.metrics import MetricAccumulator, per_sample_scores
from fwilab.training.preemption import PreemptionWatch, hand_over
from fwilab.training.trained_model import load_trained

log = logging.getLogger(__name__)
STARTS = {"network": "network + FWI", "1d": "1-D start + FWI", "file": "file start + FWI"}  # the refined rows
START_ROWS = {"network": "network", "1d": "1-D start", "file": "file start"}  # the start's own row
BATCHES = "batches"  # the run directory's folder of refined batches
RUN_FILE = "refine_run.json"  # what the run refines, and with which settings: a resume must match it
RANKS_WAIT = datetime.timedelta(hours=12)  # how long a rank that has finished waits for the others
KM_PER_S_LIMIT = 10.0  # a start map below this is in km/s, not m/s


@dataclass
class Inputs:
    """What the refinement reads: the split, its normalizer, the network (None: classical FWI) and the device."""

    dataset: OpenFWIDataset
    data_cfg: DataSettings
    normalizer: Normalizer
    device: torch.device
    model: nn.Module | None
    tags: list[str]
    logger: Callable[[Path], RunLogger]  # the W&B (or no) logger of a run directory


@dataclass
class Plan:
    """The samples (``first`` to ``stop`` of the split), this job's batches, the starts and the settings they depend on."""

    first: int
    stop: int
    shard: tuple[int, int] | None
    batches: list[tuple[int, int]]
    starts: tuple[str, ...]
    baseline: tuple[float, float]
    start_maps: np.ndarray | None  # start_file's maps, one per sample of the split or of the selection
    settings: dict[str, Any]  # the fingerprint: everything the refined maps depend on


def _load(task: RefineTaskSettings) -> Inputs:
    """The checkpoint's model, split and normalizer; without a checkpoint, ``data=``'s split and its own constants."""
    cfg = task.config
    if task.checkpoint is not None:
        loaded = load_trained(cfg)
        return Inputs(
            loaded.dataset,
            loaded.data_cfg,
            loaded.normalizer,
            loaded.device,
            loaded.model,
            loaded.tags,
            lambda run_dir: loaded.task_logger(cfg, run_dir, "refine"),
        )
    if cfg.get("data") is None:
        raise ConfigError("checkpoint=null (classical FWI) needs the gathers to refine: name them with data=...")
    data_cfg = read_data(cfg.data)
    root = prepare_root(data_cfg)
    dataset = build_split(data_cfg, task.split, root=root)
    tags = [str(data_cfg.family), "classical-fwi"]
    return Inputs(
        dataset,
        data_cfg,
        normalizer_for(data_cfg, root),
        resolve_device(task.device),
        None,
        tags,
        lambda run_dir: _logger(cfg, run_dir, tags),
    )


def _logger(cfg: DictConfig, run_dir: Path, tags: Sequence[str]) -> RunLogger:
    return build_logger(
        cfg.logger, run_dir, "refine", tags, OmegaConf.to_container(cfg, resolve=True), local_images=False
    )


def _chosen_starts(task: RefineTaskSettings) -> tuple[str, ...]:
    """``starts``, or for ``auto``: network and 1-D with a checkpoint, else the file start if given, else the 1-D."""
    if task.starts != "auto":
        starts = tuple(task.starts)
    elif task.checkpoint is not None:
        starts = ("network", "1d")
    else:
        starts = ("file",) if task.start_file is not None else ("1d",)
    if "network" in starts and task.checkpoint is None:
        raise ConfigError(f"starts={list(starts)}: the network start needs a checkpoint=...")
    if "file" in starts and task.start_file is None:
        raise ConfigError(f"starts={list(starts)}: the file start needs start_file=PATH.npy")
    if task.start_file is not None and "file" not in starts:
        raise ConfigError(f"start_file={task.start_file} is set but starts={list(starts)} does not refine from it")
    return starts


def baseline_ends(task: RefineTaskSettings, family: str, normalizer: Normalizer) -> tuple[float, float]:
    """The 1-D start's ends, linear in depth from ``baseline.top_ms`` to ``baseline.bottom_ms``; by default the
    family's measured top- and bottom-row medians (CurveFault-A: 1924 -> 4038 m/s), else the velocity range's ends."""
    measured_top, measured_bottom = measured_depth_range(family) or (normalizer.vel_min, normalizer.vel_max)
    top = task.baseline.top_ms or measured_top
    bottom = task.baseline.bottom_ms or measured_bottom
    if not normalizer.vel_min <= top <= bottom <= normalizer.vel_max:
        raise ConfigError(
            f"baseline.top_ms={top} .. baseline.bottom_ms={bottom} must increase with depth within "
            f"{normalizer.vel_min:g}..{normalizer.vel_max:g} m/s"
        )
    return float(top), float(bottom)


def _selection(task: RefineTaskSettings, total: int) -> tuple[int, int]:
    """(first, stop) of the samples to refine, within the split's ``total``."""
    first, stop = sample_span("samples", task.samples)
    if isinstance(task.samples, int):
        stop = min(stop, total)  # the first N: all of a smaller split, as before
    stop = total if stop is None else stop
    if first >= total or stop > total:
        raise ConfigError(
            f"samples={task.samples} is outside split={task.split}, which holds {total} samples (0:{total})"
        )
    return first, stop


def _batch_size(task: RefineTaskSettings, count: int, device: torch.device) -> int:
    """``batch_size``; on CPU no larger than a core's share of the samples, so that every core gets a batch."""
    if device.type == "cpu":
        return max(1, min(task.batch_size, math.ceil(count / available_cores())))
    return task.batch_size


def _start_file(task: RefineTaskSettings, normalizer: Normalizer, total: int, selected: int) -> tuple[np.ndarray, str]:
    """``start_file``'s maps (checked: shape, units, range, count) and its SHA-256 (8 hex) for the fingerprint."""
    path = Path(task.start_file).expanduser()
    if not path.is_file():
        raise ConfigError(f"start_file={task.start_file} is not a file")
    try:
        maps = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise ConfigError(f"start_file={task.start_file} is not a .npy array ({error})") from None
    if maps.ndim != 4 or tuple(maps.shape[1:]) != (1, 70, 70):
        raise ConfigError(
            f"start_file={task.start_file} has shape {tuple(maps.shape)}; an OpenFWI velocity file is (n, 1, 70, 70)"
        )
    if len(maps) not in (total, selected):
        raise ConfigError(
            f"start_file={task.start_file} holds {len(maps)} maps; give one per sample of split={task.split} "
            f"({total}) or of samples={task.samples} ({selected})"
        )
    values = np.asarray(maps, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(values).all():
        raise ConfigError(f"start_file={task.start_file} holds NaN or Inf values")
    if high < KM_PER_S_LIMIT:
        raise ConfigError(f"start_file={task.start_file} holds {low:g}..{high:g}: km/s? give velocities in m/s")
    vel_min, vel_max = normalizer.vel_min, normalizer.vel_max
    if low < vel_min - 0.5 or high > vel_max + 0.5:
        raise ConfigError(
            f"start_file={task.start_file} holds {low:g}..{high:g} m/s, outside the data's velocity range "
            f"{vel_min:g}..{vel_max:g} m/s"
        )
    return values, hashlib.sha256(values.tobytes()).hexdigest()[:8]


def _plan(task: RefineTaskSettings, inputs: Inputs, propagation: torch.device, saved: dict[str, Any] | None) -> Plan:
    """What this job refines, checked before any work; ``saved``: the run directory's record of an earlier attempt
    (its batch size is kept, so a resume on a machine with another core count cuts the same batches)."""
    total = len(inputs.dataset)
    first, stop = _selection(task, total)
    starts = _chosen_starts(task)
    norm = inputs.normalizer
    start_maps, start_digest = _start_file(task, norm, total, stop - first) if "file" in starts else (None, None)
    baseline = baseline_ends(task, inputs.data_cfg.family, norm) if "1d" in starts else (0.0, 0.0)
    shard = shard_of("shard", task.shard)
    chosen = _batch_size(task, stop - first, propagation)
    if saved is not None and saved["settings"].get("batch_size_requested") == task.batch_size:
        chosen = saved["settings"]["batch_size"]
    batches = [(b, min(b + chosen, stop)) for b in range(first, stop, chosen)]
    if shard is not None:
        part, parts = shard
        if parts > len(batches):
            raise ConfigError(
                f"shard={task.shard}: samples={task.samples} make only {len(batches)} batches of {chosen}"
            )
        bounds = np.linspace(0, len(batches), parts + 1).round().astype(int)
        batches = batches[bounds[part] : bounds[part + 1]]
    settings = {
        "checkpoint": None if task.checkpoint is None else str(Path(task.checkpoint).expanduser().resolve()),
        "data": split_digest(inputs.dataset),
        "normalizer": asdict(norm),
        "starts": list(starts),
        "start_file": None if start_maps is None else f"{Path(task.start_file).resolve()} sha256 {start_digest}",
        "baseline": list(baseline) if "1d" in starts else None,
        **{key: _plain(getattr(task, key)) for key in ("iterations", "step_ms", "frequencies_hz")},
        **{
            key: getattr(task, key)
            for key in ("smoothing_cells", "depth_scaling", "gradient_sampling_interval", "record_s")
        },
        "batch_size_requested": task.batch_size,
        "batch_size": chosen,
    }
    return Plan(first, stop, shard, batches, starts, baseline, start_maps, settings)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _run_record(task: RefineTaskSettings, inputs: Inputs, plan: Plan) -> dict[str, Any]:
    """``refine_run.json``: the fingerprint, this job's samples and batches, and what the outputs need."""
    return {
        "settings": plan.settings,
        "samples": [plan.first, plan.stop],
        "shard": task.shard,
        "batches": [list(batch) for batch in plan.batches],
        "header": {
            "checkpoint": task.checkpoint,
            "data": inputs.data_cfg.family,
            "split": task.split,
            "iterations": task.iterations,
            "starts": list(plan.starts),
            "labelled": inputs.dataset.has_all_labels,
        },
        "pictures": task.pictures,
        "tags": inputs.tags,
    }


def _check_resume(run_dir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier attempt's record, or None; a ConfigError naming the first difference when the settings changed."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    saved = _read_json(path)
    mine = {**record["settings"], "samples": record["samples"], "shard": record["shard"]}
    theirs = {**saved["settings"], "samples": saved["samples"], "shard": saved["shard"]}
    differing = [key for key in {**theirs, **mine} if theirs.get(key) != mine.get(key)]
    if differing:
        key, more = (
            differing[0],
            f" (and {len(differing) - 1} more: {', '.join(differing[1:])})" if differing[1:] else "",
        )
        raise ConfigError(
            f"cannot resume the refinement in {run_dir}: {key} is {theirs.get(key)!r} there and {mine.get(key)!r} "
            f"now{more}; rerun with the same settings, or choose another hydra.run.dir"
        )
    return saved


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise DataError(f"{path} is not valid JSON ({error})") from None


def batch_path(run_dir: Path, batch: Sequence[int]) -> Path:
    return run_dir / BATCHES / f"{batch[0]:07d}-{batch[1]:07d}.pt"


def _is_done(run_dir: Path, batch: Sequence[int]) -> bool:
    return batch_path(run_dir, batch).is_file()


def _starting_maps(name: str, inputs: Inputs, plan: Plan, first: int, observed: torch.Tensor) -> torch.Tensor:
    """The ``name`` start of samples ``first`` .. ``first + len(observed)`` in m/s."""
    count, norm = len(observed), inputs.normalizer
    if name == "network":
        with torch.no_grad():
            predicted = inputs.model(norm.seismic(observed.to(inputs.device))).float().cpu()
        return norm.velocity_to_ms(predicted).clamp(norm.vel_min, norm.vel_max)
    if name == "1d":
        return depth_ramp(count, *plan.baseline)
    offset = 0 if len(plan.start_maps) == len(inputs.dataset) else plan.first  # a file of the selection only
    return torch.from_numpy(np.array(plan.start_maps[first - offset : first - offset + count]))


def _refine_start(
    start: torch.Tensor,
    observed: torch.Tensor,
    truth: torch.Tensor | None,
    task: RefineTaskSettings,
    norm: Normalizer,
    propagation: torch.device,
    advance: Callable[[int], None],
    stop: Callable[[], bool],
) -> dict[str, Any]:
    """One batch refined from one start: its maps, misfit (and MAE / SSIM against ``truth``) per iteration and sample
    ((iterations + 1, n) each), and the seconds it took."""
    scores: list[dict[str, torch.Tensor]] = []

    def on_iteration(iteration: int, maps: torch.Tensor, misfit: torch.Tensor) -> None:
        if truth is not None:
            scores.append(per_sample_scores(norm.velocity(maps.cpu()), norm.velocity(truth)))
        if iteration > 0:
            advance(len(maps))

    began = time.perf_counter()
    velocity, history = refine(
        start.to(propagation), observed.to(propagation), task, (norm.vel_min, norm.vel_max), on_iteration, stop
    )
    return {
        "start": start,
        "refined": velocity.cpu(),
        "misfit": torch.tensor(history),
        **{key: torch.stack([s[key].float() for s in scores]) for key in ("mae", "ssim") if scores},
        "seconds": time.perf_counter() - began,
    }


def _refine_batch(
    batch: tuple[int, int],
    inputs: Inputs,
    plan: Plan,
    task: RefineTaskSettings,
    propagation: torch.device,
    advance: Callable[[int], None],
    stop: Callable[[], bool],
) -> dict[str, Any] | None:
    """One batch (samples ``batch[0]`` to ``batch[1] - 1``) refined from every start, with the truth and its misfit
    (the operator's floor) where the split has velocity files; None once ``stop()`` (nothing of it is kept)."""
    indices = range(*batch)
    observed = torch.stack([inputs.dataset.gathers(i) for i in indices])
    truth = torch.stack([inputs.dataset[i][1] for i in indices]) if inputs.dataset.has_all_labels else None
    record: dict[str, Any] = {"batch": list(batch), "truth": truth}
    for name in plan.starts:
        start = _starting_maps(name, inputs, plan, batch[0], observed)
        record[name] = _refine_start(start, observed, truth, task, inputs.normalizer, propagation, advance, stop)
        if stop():
            return None
    record["floor"] = resimulated_misfit(truth, observed, len(truth), propagation)[1] if truth is not None else None
    return record


def _save_batch(run_dir: Path, record: dict[str, Any], workers: int) -> None:
    """Atomically: a batch file exists whole or not at all, so a kill leaves no half-written batch."""
    path = batch_path(run_dir, record["batch"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: torch.save({**record, "workers": workers}, handle))


def _processes(device: torch.device) -> tuple[DistributedContext, torch.device]:
    """The ranks torchrun started (gloo: the collectives carry only flags and lists) and this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistributedContext(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    # the ranks meet only before and after their batches: one may wait for another's last batch for long
    dist.init_process_group(backend="gloo", rank=rank, world_size=world, timeout=RANKS_WAIT)
    return DistributedContext(rank=rank, world_size=world), device


def _workers(propagation: torch.device) -> int:
    """Batches refined at once by this process: on CPU one per core of its share (torchrun's ranks on one machine
    share it), each on one thread (deepwave's threads wait on each other at every time step); on a GPU one."""
    return 1 if propagation.type != "cpu" else cores_of_this_process()


def run_refine(
    task: RefineTaskSettings, run_dir: str | Path, started: Callable[[], None] | None = None
) -> dict[str, Any]:
    """The refine task (module docstring); ``started()`` once its checks have passed (the command writes the run's
    Hydra record and log file then)."""
    run_dir = Path(run_dir)
    inputs = _load(task)
    context, device = _processes(propagation_device(inputs.device))
    if device.type == "cuda" and inputs.model is not None:  # this rank's GPU under torchrun
        inputs.model.to(device)
        inputs.device = device
    try:
        saved = _read_json(run_dir / RUN_FILE) if (run_dir / RUN_FILE).is_file() else None
        plan = _plan(task, inputs, device, saved)
        record = _run_record(task, inputs, plan)
        _check_resume(run_dir, record)
        if started is not None:
            started()
        if context.is_main:
            write_json(run_dir / RUN_FILE, record)
        result = _refine_job(task, run_dir, inputs, plan, record, context, device)
        context.any(False)  # the ranks leave together, once rank 0 has written the outputs (torchrun ends the rest
        # if one fails): a rank that tore its process group down while rank 0 still wrote could abort
    finally:
        context.close()
    if result["status"] == "preempted" and result["interrupted_by"] != "another rank":
        hand_over(result["interrupted_by"])  # under submitit: requeue this job, which resumes here
    return result


def _refine_job(
    task: RefineTaskSettings,
    run_dir: Path,
    inputs: Inputs,
    plan: Plan,
    record: dict[str, Any],
    context: DistributedContext,
    device: torch.device,
) -> dict[str, Any]:
    """Refine this rank's unfinished batches, then (rank 0) write the outputs; a signal stops it within an iteration."""
    first, stop = plan.batches[0][0], plan.batches[-1][1]  # this job's samples: the selection's, or its shard's
    header = {**record["header"], "samples": stop - first, "first_sample": first, "shard": task.shard}
    unfinished = context.broadcast_from_main([b for b in plan.batches if not _is_done(run_dir, b)])
    mine = unfinished[context.rank :: context.world_size]
    done = len(plan.batches) - len(unfinished)
    try:
        with PreemptionWatch(then="stopping after this iteration; the finished batches are kept") as watch:
            if context.is_main:
                write_json(run_dir / "metrics.json", {**header, "status": "running", "batches_done": done})
                log.info(
                    "refining samples %d:%d of %s/%s (%d), %d iterations from each start (%s), in %d batches%s%s",
                    first,
                    stop,
                    inputs.data_cfg.family,
                    task.split,
                    stop - first,
                    task.iterations,
                    ", ".join(plan.starts),
                    len(plan.batches),
                    f", shard {task.shard}" if task.shard else "",
                    f"; resuming: {done} done, {len(unfinished)} to go" if done else "",
                )
            stopped = _refine_batches(task, run_dir, inputs, plan, mine, device, context, watch)
            stopped = context.any(stopped)
    except BaseException as error:
        if context.is_main:
            status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            write_json(run_dir / "metrics.json", {**header, "status": status, "error": error_line(error)})
        raise
    if stopped:
        left = sum(not _is_done(run_dir, b) for b in plan.batches)
        log.warning(
            "stopped by %s; %d of %d batches are done and kept",
            watch.requested,
            len(plan.batches) - left,
            len(plan.batches),
        )
        by = str(watch.requested or "another rank")
        result = {**header, "status": "interrupted" if by == "SIGINT" else "preempted", "interrupted_by": by}
        result["batches_done"] = len(plan.batches) - left
        if context.is_main:
            write_json(run_dir / "metrics.json", result)
        return result
    if not context.is_main:
        return {**header, "status": "completed", "rank": context.rank}
    batches = [torch.load(batch_path(run_dir, b), weights_only=True) for b in plan.batches]
    return write_outputs(
        run_dir, header, batches, Normalizer(**plan.settings["normalizer"]), task.pictures, inputs.logger
    )


def _refine_batches(
    task: RefineTaskSettings,
    run_dir: Path,
    inputs: Inputs,
    plan: Plan,
    mine: list[tuple[int, int]],
    device: torch.device,
    context: DistributedContext,
    watch: PreemptionWatch,
) -> bool:
    """Refine and save ``mine``, batches on parallel workers (``_workers``), on CPU one thread each (also when
    there is one: deepwave's threads wait on each other at every time step); whether a signal stopped it."""
    lock = threading.Lock()
    samples = sum(stop - first for first, stop in mine)
    progress = Progress(task.iterations * samples * len(plan.starts), "refinement", unit="sample-iterations")
    workers = min(_workers(device), max(1, len(mine)))

    def stop() -> bool:
        return watch.requested is not None

    def advance(count: int) -> None:
        with lock:
            progress.update(count)

    saved = []

    def run(batch: tuple[int, int]) -> None:
        if stop():
            return
        refined = _refine_batch(tuple(batch), inputs, plan, task, device, advance, stop)
        if refined is not None:
            _save_batch(run_dir, refined, workers * context.world_size)
            with lock:
                saved.append(batch)
                log.info(
                    "saved batch %d:%d (%d of %d here), %s elapsed, %s left",
                    *batch,
                    len(saved),
                    len(mine),
                    format_duration(time.perf_counter() - progress.started),
                    format_duration(progress.remaining_s(progress.done)),
                )

    with progress, torch_threads(1) if device.type == "cpu" else nullcontext():
        if workers == 1:
            for batch in mine:
                run(batch)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, mine))
    return stop()


def _concatenated(batches: list[dict[str, Any]], starts: Sequence[str]) -> dict[str, Any]:
    """The batches' tensors joined in split order: per start its maps and per-iteration curves (samples on dim 1)."""
    joined: dict[str, Any] = {}
    for name in starts:
        parts = [batch[name] for batch in batches]
        joined[name] = {
            key: torch.cat([part[key] for part in parts], dim=0 if key in ("start", "refined") else 1)
            for key in parts[0]
            if key != "seconds"
        }
        sample_iterations = sum(part["misfit"].shape[1] * (part["misfit"].shape[0] - 1) for part in parts)
        machine_seconds = sum(part["seconds"] / batch["workers"] for part, batch in zip(parts, batches))
        joined[name]["seconds_per_iteration_per_sample"] = machine_seconds / max(1, sample_iterations)
    labelled = batches[0]["truth"] is not None
    joined["truth"] = torch.cat([batch["truth"] for batch in batches]) if labelled else None
    joined["floor"] = torch.cat([batch["floor"] for batch in batches]) if labelled else None
    return joined


def _scores(maps: torch.Tensor, truth: torch.Tensor, norm: Normalizer) -> dict[str, float]:
    """OpenFWI's MAE / MSE / RMSE / SSIM (and in m/s) of maps in m/s: the accumulator evaluate and training use."""
    accumulator = MetricAccumulator(norm.ms_per_unit)
    accumulator.update(norm.velocity(maps), norm.velocity(truth))
    return accumulator.compute()


def _row(name: str, misfit: torch.Tensor, maps: torch.Tensor, truth: torch.Tensor | None, norm: Normalizer) -> dict:
    scores = _scores(maps, truth, norm) if truth is not None else {}
    return {"model": name, **scores, **misfit_summary("data_misfit", misfit)}


def _table(joined: dict[str, Any], starts: Sequence[str], norm: Normalizer) -> list[dict]:
    """Each start alone, each refined, and the truth's floor: MAE / RMSE / SSIM against the truth, data misfit."""
    truth = joined["truth"]
    rows = [_row(START_ROWS[n], joined[n]["misfit"][0], joined[n]["start"], truth, norm) for n in starts]
    rows += [_row(STARTS[n], joined[n]["misfit"][-1], joined[n]["refined"], truth, norm) for n in starts]
    if truth is not None:
        rows.append({"model": "truth", **_scores(truth, truth, norm), **misfit_summary("data_misfit", joined["floor"])})
    return rows


def _curve_picture(joined: dict[str, Any], starts: Sequence[str]) -> np.ndarray:
    """Mean data misfit (and MAE, where the truth is known) per iteration of every start."""
    figure = Figure(figsize=(9, 3.4), dpi=100)
    misfit_axis, mae_axis = figure.subplots(1, 2)
    for name in starts:
        misfit_axis.plot(joined[name]["misfit"].mean(dim=1).numpy(), label=STARTS[name])
        if "mae" in joined[name]:
            mae_axis.plot(joined[name]["mae"].mean(dim=1).numpy(), label=STARTS[name])
    misfit_axis.set(xlabel="iteration", ylabel="relative L2 data misfit", yscale="log")
    mae_axis.set(xlabel="iteration", ylabel="MAE (normalized velocity)")
    misfit_axis.legend()
    figure.tight_layout()
    return figure_to_rgb(figure)


def _write_velocity(path: Path, maps: torch.Tensor) -> None:
    """An OpenFWI velocity file: (n, 1, 70, 70) float32 in m/s."""
    array = np.ascontiguousarray(maps.numpy().astype(np.float32))
    atomic_write(path, lambda handle: np.save(handle, array))


def write_outputs(
    run_dir: Path,
    header: dict[str, Any],
    batches: list[dict[str, Any]],
    norm: Normalizer,
    pictures: int,
    logger: Callable[[Path], RunLogger],
) -> dict[str, Any]:
    """The outputs of refined ``batches`` (in split order): velocity files, pictures, metrics.json, the W&B run."""
    starts = header["starts"]
    joined = _concatenated(batches, starts)
    if "network" in starts:
        _write_velocity(run_dir / "network.npy", joined["network"]["start"])
    for name in starts:
        _write_velocity(run_dir / f"refined_{name}.npy", joined[name]["refined"])
    rows = _table(joined, starts, norm)
    images = {"refine/curves": _curve_picture(joined, starts)}
    truth = joined["truth"]
    for index in range(min(pictures, len(truth)) if truth is not None else 0):
        for name in starts:
            maps_of_sample = (truth, joined[name]["start"], joined[name]["refined"])
            images[f"refine/{name}_sample{index}"] = render_refinement(
                *(m[index, 0].numpy() for m in maps_of_sample), (norm.vel_min, norm.vel_max)
            )
    curves = {
        name: {key: joined[name][key].mean(dim=1).tolist() for key in ("misfit", "mae", "ssim") if key in joined[name]}
        for name in starts
    }
    method = next(row for row in rows if row["model"] == STARTS[starts[0]])  # the first start's refined maps
    scored = {key: value for key, value in method.items() if key != "model"}
    result = {
        **header,
        "method": method["model"],
        "final": scored,  # as a training run's record: what summaries and reviews read as the method's scores
        "table": rows,
        "seconds_per_iteration_per_sample": {n: joined[n]["seconds_per_iteration_per_sample"] for n in starts},
        "curves": curves,
    }
    iterations = len(next(iter(curves.values()))["misfit"])
    history = [
        (step, {f"refine/{n}/{key}": values[step] for n, c in curves.items() for key, values in c.items()})
        for step in range(iterations)
    ]
    summary = {f"table/{row['model']}/{key}": row[key] for row in rows for key in row if key != "model"}
    summary.update({f"final_{key}": value for key, value in scored.items()})
    outputs = TaskOutputs(result, step=iterations - 1, pictures=images, history=history, summary=summary)
    result = publish(outputs, run_dir, "metrics.json", logger(run_dir), picture_folder="pictures")
    columns = REFINEMENT_COLUMNS if truth is not None else ("data_misfit_mean", "data_misfit_median")
    for line in format_table(rows, "model", columns):
        log.info("%s", line)
    for name in starts:
        log.info("%s: %.3f s per iteration per sample", STARTS[name], result["seconds_per_iteration_per_sample"][name])
    return result


def merge_runs(directories: Sequence[str | Path], out: str | Path) -> dict[str, Any]:
    """One set of outputs in ``out`` from the refine runs in ``directories`` (the shards of a split, or runs of
    adjoining sample ranges) whose settings agree and whose batches tile their samples without a gap."""
    runs = [Path(d) for d in directories]
    records = []
    for run in runs:
        if not (run / RUN_FILE).is_file():
            raise DataError(f"{run} holds no {RUN_FILE}: not a refine run directory")
        records.append((run, _read_json(run / RUN_FILE)))
    first_run, first = records[0]
    for run, record in records[1:]:
        differing = [
            k
            for k in {**first["settings"], **record["settings"]}
            if first["settings"].get(k) != record["settings"].get(k)
        ]
        if differing or record["header"] != first["header"]:
            key = differing[0] if differing else "header"
            raise DataError(f"cannot merge {run} with {first_run}: their settings differ ({key})")
    owner = {tuple(batch): run for run, record in records for batch in record["batches"]}
    if len(owner) != sum(len(record["batches"]) for _, record in records):
        raise DataError(f"the runs in {', '.join(map(str, runs))} refine some batches twice: merge each part once")
    batches = sorted(owner)
    gaps = [f"{a[1]}:{b[0]}" for a, b in zip(batches, batches[1:]) if a[1] != b[0]]
    if gaps:
        raise DataError(f"the runs leave samples {', '.join(gaps)} unrefined: merge every part of the split")
    missing = [f"{run}: batch {b[0]}:{b[1]}" for b, run in owner.items() if not _is_done(run, b)]
    if missing:
        raise DataError(f"{len(missing)} batches are not refined yet (e.g. {missing[0]}): resume those runs first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = {**first["header"], "samples": batches[-1][1] - batches[0][0], "first_sample": batches[0][0]}
    header["shard"], header["merged_from"] = None, [str(run) for run in runs]
    loaded = [torch.load(batch_path(owner[b], b), weights_only=True) for b in batches]
    config_file = first_run / ".hydra" / "config.yaml"
    config = OmegaConf.load(config_file) if config_file.is_file() else OmegaConf.create({"logger": {"backend": "none"}})
    norm = Normalizer(**first["settings"]["normalizer"])
    log.info("merging %d runs: samples %d:%d in %d batches", len(runs), batches[0][0], batches[-1][1], len(batches))
    return write_outputs(
        out, header, loaded, norm, first["pictures"], lambda run_dir: _logger(config, run_dir, first["tags"])
    )


def refine_run_directories(directory: Path) -> list[Path]:
    """The refine runs of a multirun directory (its job folders holding ``refine_run.json``), in job order."""
    found = sorted((p.parent for p in directory.glob(f"*/{RUN_FILE}")), key=lambda p: (len(p.name), p.name))
    if not found:
        raise DataError(f"{directory} holds no refine runs (*/{RUN_FILE})")
    return found
