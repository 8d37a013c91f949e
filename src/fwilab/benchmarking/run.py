"""benchmark.py's driver: the reference and every configuration in one process on the same data, the snapshot
cost and generation, with sizes that follow the device."""

from __future__ import annotations

import logging
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from fwilab.benchmarking.generation import generation_throughput
from fwilab.benchmarking.measure import memory_peaks
from fwilab.benchmarking.project_loop import loop_throughput, snapshot_overhead
from fwilab.benchmarking.random_split import write_random_split
from fwilab.benchmarking.reference import reference_throughput
from fwilab.config.checks import read_group
from fwilab.config.groups import TrainerSettings
from fwilab.data_contract import SEISMIC_SHAPE
from fwilab.device import resolve_device
from fwilab.models.flops import forward_flops
from fwilab.physics.forward import import_deepwave

log = logging.getLogger(__name__)


# What `auto` means per device: OpenFWI's reference setting on a GPU; on a CPU, sizes a 2-core laptop finishes in minutes.
DEVICE_DEFAULTS = {
    "cuda": {
        "batch_size": 256,
        "steps": 50,
        "warmup_steps": 10,
        "samples": 1024,
        "reference_workers": 16,
        "snapshot_every": 100,
    },
    "cpu": {
        "batch_size": 8,
        "steps": 10,
        "warmup_steps": 3,
        "samples": 64,
        "reference_workers": 0,
        "snapshot_every": 5,
    },
}


def resolve_settings(cfg: DictConfig, device: torch.device) -> DictConfig:
    """``cfg`` with every ``auto`` replaced by the device's default; on a CPU, compiled configurations are left out."""
    defaults = DEVICE_DEFAULTS["cuda" if device.type == "cuda" else "cpu"]
    resolved = OmegaConf.merge(cfg, {key: value for key, value in defaults.items() if cfg.get(key) == "auto"})
    if device.type != "cuda":
        compiled = [name for name, overrides in resolved.configurations.items() if overrides.get("compile") is True]
        for name in compiled:
            log.info("benchmark configuration %s left out: torch.compile is measured on GPUs only", name)
        with open_dict(resolved):
            for name in compiled:
                del resolved.configurations[name]
    return resolved


def _report_header(cfg: DictConfig, train_cfg: DictConfig, device: torch.device, flops: int) -> dict[str, Any]:
    """What the numbers were measured on and with."""
    on_gpu = device.type == "cuda"
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if on_gpu else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": train_cfg.model._target_.rsplit(".", 1)[-1],
        "forward_gflop_per_sample": flops / 1e9,
        "batch_size": cfg.batch_size,
        "steps": cfg.steps,
        "settings": {key: cfg[key] for key in DEVICE_DEFAULTS["cpu"]},
        "rows": [],
    }


BENCHMARK_KEYS = ("device", "benchmark")  # benchmark.yaml's own keys; the rest is a training config


def training_config(cfg: DictConfig) -> DictConfig:
    """benchmark.yaml's training part, interpolations resolved: what each configuration trains with (check_train)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return OmegaConf.create({key: value for key, value in resolved.items() if key not in BENCHMARK_KEYS})


def check_configurations(cfg: DictConfig, trainer: DictConfig) -> None:
    """The trainer settings and each configuration's, before any data is written or generated."""
    read_group("trainer", trainer, TrainerSettings)
    for name, overrides in cfg.configurations.items():
        read_group(f"benchmark.configurations.{name}", overrides, TrainerSettings, required=False)


def run_benchmarks(cfg: DictConfig, train_cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Every configuration of ``cfg.configurations`` plus the reference, the snapshot cost and generation."""
    device = resolve_device(train_cfg.trainer.device)
    cfg = resolve_settings(cfg, device)
    sizes = {"batch_size": cfg.batch_size, "eval_batch_size": cfg.batch_size}
    train_cfg = training_config(OmegaConf.merge(train_cfg, {"trainer": sizes}))
    check_configurations(cfg, train_cfg.trainer)
    if cfg.generation.n_models:
        import_deepwave()  # before minutes of training, not after
    flops = forward_flops(train_cfg.model, SEISMIC_SHAPE)
    result = _report_header(cfg, train_cfg, device, flops)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        root = write_random_split(Path(scratch) / "data", cfg.samples)

        def add(name: str, measured: dict[str, Any]) -> None:
            rate = measured["samples_per_s"]
            reference = result["rows"][0]["samples_per_s"] if result["rows"] else rate
            ratio, tflops = rate / reference, rate * 3 * flops / 1e12
            row = {"configuration": name, **measured, "ratio_to_reference": ratio, "achieved_tflops": tflops}
            result["rows"].append({**row, **memory_peaks(device)})
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)

        def measure(name: str, overrides: Any, steps: int, snapshot_every: int | None = None) -> dict[str, Any]:
            folder = Path(scratch) / name
            return loop_throughput(train_cfg, root, folder, dict(overrides), steps, cfg.warmup_steps, snapshot_every)

        workers = cfg.reference_workers
        reference = reference_throughput(root, train_cfg, cfg.batch_size, cfg.steps, cfg.warmup_steps, workers, device)
        add("reference (OpenFWI-style)", reference)
        for name, overrides in cfg.configurations.items():
            add(name, measure(name, overrides, cfg.steps))
        last_name, last = list(cfg.configurations.items())[-1]
        steps = cfg.snapshots_per_run * cfg.snapshot_every
        plain, snapshots = measure("no_snapshots", last, steps), measure("snapshots", last, steps, cfg.snapshot_every)
        result["snapshot_overhead"] = snapshot_overhead(plain, snapshots, cfg.snapshot_every, cfg.batch_size)
        result["snapshot_overhead"]["configuration"] = last_name
    if cfg.generation.n_models:
        generation = cfg.generation
        result["generation"] = generation_throughput(
            generation.family, generation.n_models, generation.batch_size, device
        )
    return result
