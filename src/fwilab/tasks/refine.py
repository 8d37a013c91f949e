"""The refine task: a checkpoint's predictions as starting models of wave-equation FWI, beside the classical
FWI from a smooth 1-D start with the same budget (`fwilab-refine checkpoint=PATH split=val samples=4 iterations=100`).

Outputs in the run directory: ``network.npy``, ``refined_network.npy`` and ``refined_1d.npy`` (OpenFWI
velocity files, (n, 1, 70, 70) float32 m/s), ``metrics.json`` (the table, per-iteration curves,
seconds per iteration per sample), ``pictures/`` (truth, start, refined and both errors per sample;
the misfit and MAE curves) and a W&B run with ``job_type`` refine.

Ctrl-C (or SIGTERM, or a preemption signal: training's ``PreemptionWatch``) stops the refinement after the
iteration under way; the run directory keeps its log and a ``metrics.json`` with status ``interrupted``,
the start and the iterations done. Nothing refined is saved yet, so a rerun starts over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from fwilab.config.groups import RefineSettings
from fwilab.config.tasks import RefineTaskSettings
from fwilab.data.synthetic.faithfulness import measured_depth_range
from fwilab.data.transforms import Normalizer
from fwilab.device import available_cores
from fwilab.diagnostics.render import render_refinement
from fwilab.errors import ConfigError
from fwilab.io import atomic_write, write_json
from fwilab.metric_registry import REFINEMENT_COLUMNS, format_table
from fwilab.physics.forward import on_each_core, propagation_device
from fwilab.physics.misfit import misfit_summary, resimulated_misfit
from fwilab.physics.refine import depth_ramp, refine
from fwilab.plotting import figure_to_rgb
from fwilab.progress import Progress
from fwilab.tracking import TaskOutputs, publish
from fwilab.training.metrics import per_sample_scores
from fwilab.training.preemption import PreemptionWatch
from fwilab.training.trained_model import TrainedModel, load_trained, predictions_of
from fwilab.training.validation import Predictions

log = logging.getLogger(__name__)
STARTS = {"network": "network + FWI", "1d": "1-D start + FWI"}


def baseline_start(task: RefineTaskSettings, family: str, count: int, normalizer: Normalizer) -> torch.Tensor:
    """The 1-D start: linear in depth from ``baseline.top_ms`` to ``baseline.bottom_ms``; by default the family's
    measured top- and bottom-row medians (CurveFault-A: 1924 -> 4038 m/s), else the velocity range's ends."""
    measured_top, measured_bottom = measured_depth_range(family) or (normalizer.vel_min, normalizer.vel_max)
    top = task.baseline.top_ms or measured_top
    bottom = task.baseline.bottom_ms or measured_bottom
    if not normalizer.vel_min <= top <= bottom <= normalizer.vel_max:
        raise ConfigError(
            f"baseline.top_ms={top} .. baseline.bottom_ms={bottom} must increase with depth within "
            f"{normalizer.vel_min:g}..{normalizer.vel_max:g} m/s"
        )
    log.info("1-D start: %.0f m/s at the top to %.0f m/s at the bottom, linear in depth", top, bottom)
    return depth_ramp(count, float(top), float(bottom))


def _refine_batch(
    start: torch.Tensor,
    observed: torch.Tensor,
    truth: torch.Tensor,
    settings: RefineSettings,
    norm: Normalizer,
    advance: Callable[[int], None],
    stop: Callable[[], bool],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refined maps of one batch and its misfit, MAE and SSIM per iteration and sample, (iterations + 1, n) each
    (fewer rows once ``stop()``); ``advance(n)`` after every update."""
    scores: list[dict[str, torch.Tensor]] = []

    def record(iteration: int, maps: torch.Tensor, misfit: torch.Tensor) -> None:
        scores.append(per_sample_scores(norm.velocity(maps), norm.velocity(truth)))
        if iteration > 0:
            advance(len(maps))

    velocity, history = refine(start, observed, settings, (norm.vel_min, norm.vel_max), record, stop)
    mae, ssim = (torch.stack([score[k].float().cpu() for score in scores]) for k in ("mae", "ssim"))
    return velocity.cpu(), torch.tensor(history), mae, ssim


def _run_start(
    name: str,
    start: torch.Tensor,
    maps: Predictions,
    settings: RefineSettings,
    batch_size: int,
    device: torch.device,
    norm: Normalizer,
    stop: Callable[[], bool],
) -> dict[str, Any]:
    """Refine ``start`` batch by batch: the refined maps, per-iteration misfit / MAE / SSIM per sample, the time;
    once ``stop()``, only ``iterations_done`` (the fewest of any batch; a batch not begun counts 0).

    On a GPU the batches run one after the other. On CPU each core refines whole batches on one thread
    (as the generator propagates): deepwave's threads synchronize at every time step, and on a shared
    machine they wait on each other far longer than the step takes.
    """
    lock = threading.Lock()
    progress = Progress(settings.iterations * len(start), STARTS[name], unit="sample-iterations")

    def advance(count: int) -> None:
        with lock:
            progress.update(count)

    def run_batch(first: int) -> tuple[torch.Tensor, ...] | None:
        if stop():  # asked to stop before this batch began
            return None
        batch = slice(first, first + batch_size)
        tensors = (start[batch], maps.seismic[batch], maps.truth[batch])
        return _refine_batch(*(t.to(device) for t in tensors), settings, norm, advance, stop)

    if device.type == "cpu":  # batches small enough that every core gets one
        batch_size = min(batch_size, math.ceil(len(start) / available_cores()))
    began = time.perf_counter()
    firsts = range(0, len(start), batch_size)
    with progress:
        if device.type == "cpu":
            parts = on_each_core(run_batch, firsts)
        else:
            parts = [run_batch(first) for first in firsts]
    seconds = time.perf_counter() - began
    if stop():
        return {"iterations_done": min(len(part[1]) - 1 if part is not None else 0 for part in parts)}
    refined, misfit, mae, ssim = (torch.cat(column, dim=1 if k else 0) for k, column in enumerate(zip(*parts)))
    return {
        "refined": refined,
        "misfit": misfit,
        "mae": mae,
        "ssim": ssim,
        "seconds_per_iteration_per_sample": seconds / (settings.iterations * len(start)),
        "iterations_done": settings.iterations,
    }


def _row(name: str, misfit: torch.Tensor, mae: torch.Tensor, ssim: torch.Tensor, ms_per_unit: float) -> dict:
    return {
        "model": name,
        "mae": mae.mean().item(),
        "mae_ms": mae.mean().item() * ms_per_unit,
        "ssim": ssim.mean().item(),
        **misfit_summary("data_misfit", misfit),
    }


def _write_velocity(path: Path, maps: torch.Tensor) -> None:
    """An OpenFWI velocity file: (n, 1, 70, 70) float32 in m/s."""
    array = np.ascontiguousarray(maps.numpy().astype(np.float32))
    atomic_write(path, lambda handle: np.save(handle, array))


def _table(runs: dict[str, dict[str, Any]], floor: torch.Tensor, ms_per_unit: float) -> list[dict]:
    """Network alone, the 1-D start, both refined, and the truth's floor: MAE, SSIM, data misfit."""
    network, baseline = runs["network"], runs["1d"]
    return [
        _row("network", network["misfit"][0], network["mae"][0], network["ssim"][0], ms_per_unit),
        _row("1-D start", baseline["misfit"][0], baseline["mae"][0], baseline["ssim"][0], ms_per_unit),
        *(
            _row(STARTS[name], run["misfit"][-1], run["mae"][-1], run["ssim"][-1], ms_per_unit)
            for name, run in runs.items()
        ),
        {"model": "truth", "mae": 0.0, "mae_ms": 0.0, "ssim": 1.0, **misfit_summary("data_misfit", floor)},
    ]


def _curve_picture(runs: dict[str, dict[str, Any]]) -> np.ndarray:
    """Mean data misfit and MAE per iteration of both starts."""
    figure = Figure(figsize=(9, 3.4), dpi=100)
    misfit_axis, mae_axis = figure.subplots(1, 2)
    for name, run in runs.items():
        misfit_axis.plot(run["misfit"].mean(dim=1).numpy(), label=STARTS[name])
        mae_axis.plot(run["mae"].mean(dim=1).numpy(), label=STARTS[name])
    misfit_axis.set(xlabel="iteration", ylabel="relative L2 data misfit", yscale="log")
    mae_axis.set(xlabel="iteration", ylabel="MAE (normalized velocity)")
    misfit_axis.legend()
    figure.tight_layout()
    return figure_to_rgb(figure)


def _write_outputs(
    task: RefineTaskSettings,
    run_dir: Path,
    loaded: TrainedModel,
    maps: Predictions,
    runs: dict,
    rows: list[dict],
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Velocity files, then the pictures, metrics.json and the W&B run; the table in the log."""
    _write_velocity(run_dir / "network.npy", maps.predicted)
    for name, run in runs.items():
        _write_velocity(run_dir / f"refined_{name}.npy", run["refined"])
    norm = loaded.normalizer
    images = {"refine/curves": _curve_picture(runs)}
    for index in range(min(task.pictures, len(maps.truth))):
        for name, run in runs.items():
            maps_of_sample = (maps.truth, run["start"], run["refined"])
            images[f"refine/{name}_sample{index}"] = render_refinement(
                *(m[index, 0].numpy() for m in maps_of_sample), (norm.vel_min, norm.vel_max)
            )
    curves = {
        name: {key: run[key].mean(dim=1).tolist() for key in ("misfit", "mae", "ssim")} for name, run in runs.items()
    }
    result = {
        **facts,
        "table": rows,
        "seconds_per_iteration_per_sample": {n: r["seconds_per_iteration_per_sample"] for n, r in runs.items()},
        "curves": curves,
    }
    history = [
        (
            iteration,
            {f"refine/{name}/{key}": values[iteration] for name, c in curves.items() for key, values in c.items()},
        )
        for iteration in range(task.iterations + 1)
    ]
    summary = {f"table/{row['model']}/{key}": row[key] for row in rows for key in row if key != "model"}
    outputs = TaskOutputs(result, step=task.iterations, pictures=images, history=history, summary=summary)
    logger = loaded.task_logger(task.config, run_dir, "refine")
    result = publish(outputs, run_dir, "metrics.json", logger, picture_folder="pictures")
    for line in format_table(rows, "model", REFINEMENT_COLUMNS):
        log.info("%s", line)
    return result


def _facts(task: RefineTaskSettings, loaded: TrainedModel, samples: int) -> dict[str, Any]:
    """What was refined, and where: the head of ``metrics.json``, completed or interrupted."""
    return {
        "checkpoint": str(task.checkpoint),
        "data": loaded.data_cfg.family,
        "split": task.split,
        "samples": samples,
        "iterations": task.iterations,
        "device": str(loaded.device),
    }


def _interrupted(run_dir: Path, facts: dict[str, Any], by: str, **where: Any) -> dict[str, Any]:
    """Record a refinement stopped by a signal: ``metrics.json`` with status ``interrupted`` and where it stopped."""
    result = {**facts, "status": "interrupted", "interrupted_by": by, **where}
    write_json(run_dir / "metrics.json", result)
    return result


def run_refine(task: RefineTaskSettings, run_dir: str | Path) -> dict[str, Any]:
    """The refine task (module docstring); ``task`` is also the refinement's settings."""
    loaded = load_trained(task.config)
    norm = loaded.normalizer
    maps = predictions_of(loaded, task.samples)
    count, family = len(maps.truth), loaded.data_cfg.family
    starts = {"network": maps.predicted, "1d": baseline_start(task, family, count, norm)}
    facts = _facts(task, loaded, count)
    with PreemptionWatch(then="stopping after this iteration") as watch:
        log.info(
            "refining %d samples of %s/%s: %d iterations from each start", count, family, task.split, task.iterations
        )
        try:
            return _refine_and_write(task, Path(run_dir), loaded, maps, starts, watch, facts)
        except KeyboardInterrupt:  # a second Ctrl-C
            _interrupted(Path(run_dir), facts, "SIGINT")
            raise


def _refine_and_write(
    task: RefineTaskSettings,
    run_dir: Path,
    loaded: TrainedModel,
    maps: Predictions,
    starts: dict[str, torch.Tensor],
    watch: PreemptionWatch,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Refine from each start, score the truth's floor and write the outputs; a signal stops it within an iteration."""
    norm = loaded.normalizer
    device, runs = propagation_device(loaded.device), {}

    def stop() -> bool:
        return watch.requested is not None

    for name, start in starts.items():
        run = _run_start(name, start, maps, task, task.batch_size, device, norm, stop)
        if stop():
            log.warning(
                "stopped by %s at iteration %d of %d from the %s start; nothing refined is kept",
                watch.requested,
                run["iterations_done"],
                task.iterations,
                name,
            )
            where = {"interrupted_in": STARTS[name], "iterations_done": run["iterations_done"]}
            return _interrupted(run_dir, facts, str(watch.requested), **where)
        runs[name] = {"start": start, **run}
        log.info(
            "%s: data misfit %.4f -> %.4f (mean), %.3f s per iteration per sample on %s",
            STARTS[name],
            runs[name]["misfit"][0].mean().item(),
            runs[name]["misfit"][-1].mean().item(),
            runs[name]["seconds_per_iteration_per_sample"],
            device,
        )
    truth_misfit = resimulated_misfit(maps.truth, maps.seismic, task.batch_size, device)[1]  # the operator's floor
    rows = _table(runs, truth_misfit, norm.ms_per_unit)
    return _write_outputs(task, run_dir, loaded, maps, runs, rows, facts)
