"""The refine task: a checkpoint's predictions as starting models of wave-equation FWI, beside the classical
FWI from a smooth 1-D start with the same budget (`fwilab-refine checkpoint=PATH split=val samples=4 iterations=100`).

Outputs in the run directory: ``network.npy``, ``refined_network.npy`` and ``refined_1d.npy`` (OpenFWI
velocity files, (n, 1, 70, 70) float32 m/s), ``metrics.json`` (the table, per-iteration curves,
seconds per iteration per sample), ``pictures/`` (truth, start, refined and both errors per sample;
the misfit and MAE curves) and a W&B run with ``job_type`` refine.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from fwilab.data.synthetic.faithfulness import TARGETS
from fwilab.data.synthetic.forward import propagation_device, torch_threads
from fwilab.data.transforms import Normalizer
from fwilab.device import available_cores
from fwilab.diagnostics.render import render_refinement
from fwilab.errors import ConfigError
from fwilab.io import atomic_write, write_json
from fwilab.logging import build_logger
from fwilab.physics.misfit import resimulated_misfit
from fwilab.physics.refine import RefineSettings, depth_ramp, refine
from fwilab.plotting import figure_to_rgb
from fwilab.progress import Progress
from fwilab.tasks.evaluate import (
    TrainedModel,
    load_trained,
    misfit_summary,
    predictions_of,
    score_maps,
    use_trained_model,
)
from fwilab.training.validation import Predictions

log = logging.getLogger(__name__)
STARTS = {"network": "network + FWI", "1d": "1-D start + FWI"}


def baseline_start(cfg: DictConfig, family: str, count: int, normalizer: Normalizer) -> torch.Tensor:
    """The 1-D start: linear in depth from ``baseline.top_ms`` to ``baseline.bottom_ms``; by default the family's
    measured top- and bottom-row medians (CurveFault-A: 1924 -> 4038 m/s), else the velocity range's ends."""
    targets = TARGETS.get(family, {})
    top = cfg.baseline.top_ms or getattr(targets.get("top_row_velocity.median"), "measured", normalizer.vel_min)
    bottom = cfg.baseline.bottom_ms or getattr(
        targets.get("bottom_row_velocity.median"), "measured", normalizer.vel_max
    )
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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refined maps of one batch and its misfit, MAE and SSIM per iteration and sample, (iterations + 1, n) each;
    ``advance(n)`` after every update."""
    scores: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(iteration: int, maps: torch.Tensor, misfit: torch.Tensor) -> None:
        scores.append(score_maps(maps, truth, norm))
        if iteration > 0:
            advance(len(maps))

    velocity, history = refine(start, observed, settings, record)
    mae, ssim = (torch.stack([score[k].cpu() for score in scores]) for k in (0, 1))
    return velocity.cpu(), torch.tensor(history), mae, ssim


def _run_start(
    name: str,
    start: torch.Tensor,
    maps: Predictions,
    settings: RefineSettings,
    batch_size: int,
    device: torch.device,
    norm: Normalizer,
) -> dict[str, Any]:
    """Refine ``start`` batch by batch: the refined maps, per-iteration misfit / MAE / SSIM per sample, the time.

    On a GPU the batches run one after the other. On CPU each core refines whole batches on one thread
    (as the generator propagates): deepwave's threads synchronize at every time step, and on a shared
    machine they wait on each other far longer than the step takes.
    """
    lock = threading.Lock()
    progress = Progress(settings.iterations * len(start), STARTS[name], unit="sample-iterations")

    def advance(count: int) -> None:
        with lock:
            progress.update(count)

    def run_batch(first: int) -> tuple[torch.Tensor, ...]:
        batch = slice(first, first + batch_size)
        tensors = (start[batch], maps.seismic[batch], maps.truth[batch])
        return _refine_batch(*(t.to(device) for t in tensors), settings, norm, advance)

    if device.type == "cpu":  # batches small enough that every core gets one
        batch_size = min(batch_size, math.ceil(len(start) / available_cores()))
    began = time.perf_counter()
    firsts = range(0, len(start), batch_size)
    with progress:
        if device.type == "cpu":
            with torch_threads(1), ThreadPoolExecutor(min(available_cores(), len(firsts))) as pool:
                parts = list(pool.map(run_batch, firsts))
        else:
            parts = [run_batch(first) for first in firsts]
    seconds = time.perf_counter() - began
    refined, misfit, mae, ssim = (torch.cat(column, dim=1 if k else 0) for k, column in enumerate(zip(*parts)))
    return {
        "refined": refined,
        "misfit": misfit,
        "mae": mae,
        "ssim": ssim,
        "seconds_per_iteration_per_sample": seconds / (settings.iterations * len(start)),
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


def _table_lines(rows: list[dict]) -> list[str]:
    lines = [f"{'model':<18} {'MAE':>7} {'MAE m/s':>8} {'SSIM':>7} {'misfit mean':>12} {'median':>8}"]
    lines += [
        f"{r['model']:<18} {r['mae']:7.4f} {r['mae_ms']:8.1f} {r['ssim']:7.4f} "
        f"{r['data_misfit_mean']:12.4f} {r['data_misfit_median']:8.4f}"
        for r in rows
    ]
    return lines


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
    cfg: DictConfig, run_dir: Path, loaded: TrainedModel, maps: Predictions, runs: dict, rows: list[dict]
) -> dict[str, Any]:
    """Velocity files, pictures, metrics.json and the W&B run; the table in the log."""
    _write_velocity(run_dir / "network.npy", maps.predicted)
    for name, run in runs.items():
        _write_velocity(run_dir / f"refined_{name}.npy", run["refined"])
    norm = loaded.normalizer
    images = {"refine/curves": _curve_picture(runs)}
    for index in range(min(cfg.pictures, len(maps.truth))):
        for name, run in runs.items():
            maps_of_sample = (maps.truth, run["start"], run["refined"])
            images[f"refine/{name}_sample{index}"] = render_refinement(
                *(m[index, 0].numpy() for m in maps_of_sample), (norm.vel_min, norm.vel_max)
            )
    folder = run_dir / "pictures"
    folder.mkdir(parents=True, exist_ok=True)
    for key, image in images.items():
        Image.fromarray(image).save(folder / f"{key.split('/')[1]}.png")
    curves = {
        name: {key: run[key].mean(dim=1).tolist() for key in ("misfit", "mae", "ssim")} for name, run in runs.items()
    }
    result = {
        "checkpoint": str(cfg.checkpoint),
        "data": loaded.data_cfg.family,
        "split": cfg.split,
        "samples": len(maps.truth),
        "iterations": cfg.iterations,
        "device": str(loaded.device),
        "table": rows,
        "seconds_per_iteration_per_sample": {n: r["seconds_per_iteration_per_sample"] for n, r in runs.items()},
        "curves": curves,
        "status": "completed",
    }
    write_json(run_dir / "metrics.json", result)
    logger = build_logger(OmegaConf.merge(loaded.config, {"logger": cfg.logger}), run_dir, "refine", local_images=False)
    use_trained_model(logger, cfg.checkpoint)
    for iteration in range(cfg.iterations + 1):
        logger.log_metrics(
            {f"refine/{name}/{key}": values[iteration] for name, c in curves.items() for key, values in c.items()},
            step=iteration,
        )
    logger.log_images(images, step=cfg.iterations)
    logger.log_summary({f"table/{row['model']}/{key}": row[key] for row in rows for key in row if key != "model"})
    logger.finish("completed")
    for line in _table_lines(rows):
        log.info("%s", line)
    return result


def run_refine(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """The refine task (module docstring)."""
    loaded = load_trained(cfg)
    norm = loaded.normalizer
    settings = RefineSettings.of(cfg, vel_min=norm.vel_min, vel_max=norm.vel_max)
    maps = predictions_of(loaded, cfg.samples)
    count, family = len(maps.truth), loaded.data_cfg.family
    log.info("refining %d samples of %s/%s: %d iterations from each start", count, family, cfg.split, cfg.iterations)
    starts = {"network": maps.predicted, "1d": baseline_start(cfg, family, count, norm)}
    device, runs = propagation_device(loaded.device), {}
    for name, start in starts.items():
        runs[name] = {"start": start, **_run_start(name, start, maps, settings, cfg.batch_size, device, norm)}
        log.info(
            "%s: data misfit %.4f -> %.4f (mean), %.3f s per iteration per sample on %s",
            STARTS[name],
            runs[name]["misfit"][0].mean().item(),
            runs[name]["misfit"][-1].mean().item(),
            runs[name]["seconds_per_iteration_per_sample"],
            device,
        )
    truth_misfit = resimulated_misfit(maps.truth, maps.seismic, cfg.batch_size, device)[1]  # the operator's floor
    rows = _table(runs, truth_misfit, norm.ms_per_unit)
    return _write_outputs(cfg, Path(run_dir), loaded, maps, runs, rows)
