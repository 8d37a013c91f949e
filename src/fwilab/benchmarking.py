"""Throughput measurements written as JSON + markdown, all configurations in one process on the same data.

* ``reference``: an OpenFWI-style loop — DataLoader workers applying numpy log / min-max
  transforms per sample, fp32, ``loss.item()`` every step — the yardstick.
* the project's own loop (``fwilab.training.loop.train``) in each configuration asked for
  (precision, channels_last, compile, resident data), measured over the log intervals after warm-up;
* the cost of activation snapshots every ``snapshot_every`` steps (see ``snapshot_overhead``);
* synthetic-data generation (deepwave) in models per second, when deepwave is installed.

Data: ``samples`` random gathers of the OpenFWI shape written as OpenFWI files (correctly shaped,
no physics, no deepwave needed), so the benchmark runs on a machine that only has torch.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader, Dataset

from fwilab.data.openfwi import FilePair, write_split_file
from fwilab.data.synthetic.forward import import_deepwave, simulate_shot_gathers
from fwilab.data.synthetic.velocity import velocity_models
from fwilab.device import resolve_device
from fwilab.errors import FwilabError
from fwilab.io import write_json
from fwilab.models.build import build_model
from fwilab.models.flops import forward_flops
from fwilab.training.loop import peak_rss_gb, train
from fwilab.training.losses import WeightedL1L2

DATA_MIN, DATA_MAX = -26.48, 52.32

log = logging.getLogger(__name__)


def write_random_split(root: Path, samples: int, seed: int = 0) -> Path:
    """OpenFWI files of random gathers (amplitudes on OpenFWI's scale) and layered-looking velocities."""
    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "model").mkdir(parents=True, exist_ok=True)
    pair = FilePair(root / "data" / "data1.npy", root / "model" / "model1.npy")
    seismic = np.lib.format.open_memmap(pair.seismic, mode="w+", dtype=np.float32, shape=(samples, 5, 1000, 70))
    for start in range(0, samples, 64):
        count = min(64, samples - start)
        seismic[start : start + count] = rng.standard_normal((count, 5, 1000, 70), dtype=np.float32) * 5.0
    seismic.flush()
    del seismic  # unmap: the written pages leave this process's resident set
    velocity = np.sort(rng.uniform(1500, 4500, (samples, 1, 70, 1)), axis=2).repeat(70, axis=3).astype(np.float32)
    np.save(pair.velocity, velocity)
    write_split_file(root / "train.txt", [pair], root)
    write_split_file(root / "val.txt", [pair], root)
    return root


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _memory(device: torch.device) -> dict[str, float]:
    peak_rss = peak_rss_gb()
    gpu = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return {"peak_host_rss_gb": peak_rss, "peak_gpu_gb": gpu}


class NumpyTransformDataset(Dataset):
    """OpenFWI's data path: every sample log-transformed and min-max scaled in numpy, in the workers."""

    def __init__(self, root: Path):
        self.seismic = np.load(root / "data" / "data1.npy", mmap_mode="r")
        self.velocity = np.load(root / "model" / "model1.npy", mmap_mode="r")
        self.low, self.high = (math.copysign(math.log1p(abs(v)), v) for v in (DATA_MIN, DATA_MAX))

    def __len__(self) -> int:
        return len(self.seismic)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.log1p(np.abs(self.seismic[index])) * np.sign(self.seismic[index])
        x = ((x - self.low) / (self.high - self.low) * 2 - 1).astype(np.float32)
        v = ((self.velocity[index] - 1500.0) / 3000.0 * 2 - 1).astype(np.float32)
        return x, v


def reference_throughput(
    root: Path, model_cfg: DictConfig, batch_size: int, steps: int, warmup: int, workers: int, device: torch.device
) -> dict[str, Any]:
    """Samples/s of the OpenFWI-style loop."""
    torch.manual_seed(0)
    model = build_model(model_cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    criterion = WeightedL1L2()
    loader = DataLoader(
        NumpyTransformDataset(root),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    done, started = 0, None
    while done < warmup + steps:
        for x, v in loader:
            if done == warmup:
                _synchronize(device)
                started = time.perf_counter()
            loss = criterion(model(x.to(device)), v.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # OpenFWI's metric logger reads the loss every step
            done += 1
            if done == warmup + steps:
                break
    _synchronize(device)
    return {"samples_per_s": steps * batch_size / (time.perf_counter() - started)}


def loop_throughput(
    train_cfg: DictConfig,
    root: Path,
    run_dir: Path,
    overrides: dict[str, Any],
    steps: int,
    warmup: int,
    snapshot_every: int | None,
) -> dict[str, Any]:
    """Samples/s of the project's loop in one configuration (steady state: log intervals after warm-up)."""
    cfg = OmegaConf.merge(train_cfg, {"trainer": overrides})
    with open_dict(cfg):
        cfg.data.root = str(root)
        cfg.data.train_split = "train.txt"
        cfg.data.val_split = "val.txt"
        cfg.data.val_samples = min(
            cfg.trainer.eval_batch_size, len(np.load(root / "model" / "model1.npy", mmap_mode="r"))
        )
        cfg.trainer.max_steps = warmup + steps
        cfg.trainer.log_every_steps = max(1, warmup)
        cfg.trainer.val_every_steps = 10**9
        cfg.trainer.checkpoint_every_steps = 10**9
        cfg.trainer.resume = "never"
        cfg.logger = {"backend": "none"}
        cfg.diagnostics.enabled = snapshot_every is not None
        cfg.diagnostics.every_n_steps = snapshot_every or 0
    record = train(cfg, run_dir)
    steady = [rate for step, rate in record["train_throughput"] if step > warmup]
    return {
        "samples_per_s": statistics.fmean(steady),
        "wall_time_s": record["wall_time_s"],
        "snapshot_blocked_s": record["snapshot_blocked_s"],
        "steps": warmup + steps,
    }


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


def run_benchmarks(cfg: DictConfig, train_cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Every configuration of ``cfg.configurations`` plus the reference, the snapshot cost and generation."""
    device = resolve_device(train_cfg.trainer.device)
    cfg = resolve_settings(cfg, device)
    sizes = {"batch_size": cfg.batch_size, "eval_batch_size": cfg.batch_size}
    train_cfg = OmegaConf.merge(train_cfg, {"trainer": sizes})
    if cfg.generation.n_models:
        import_deepwave()  # before minutes of training, not after
    flops = forward_flops(train_cfg.model)
    result = _report_header(cfg, train_cfg, device, flops)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        root = write_random_split(Path(scratch) / "data", cfg.samples)

        def add(name: str, measured: dict[str, Any]) -> None:
            rate = measured["samples_per_s"]
            reference = result["rows"][0]["samples_per_s"] if result["rows"] else rate
            ratio, tflops = rate / reference, rate * 3 * flops / 1e12
            row = {"configuration": name, **measured, "ratio_to_reference": ratio, "achieved_tflops": tflops}
            result["rows"].append({**row, **_memory(device)})
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)

        def measure(name: str, overrides: Any, steps: int, snapshot_every: int | None = None) -> dict[str, Any]:
            folder = Path(scratch) / name
            return loop_throughput(train_cfg, root, folder, dict(overrides), steps, cfg.warmup_steps, snapshot_every)

        model_cfg, workers = train_cfg.model, cfg.reference_workers
        reference = reference_throughput(root, model_cfg, cfg.batch_size, cfg.steps, cfg.warmup_steps, workers, device)
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


def snapshot_overhead(
    plain: dict[str, Any], with_snapshots: dict[str, Any], every: int, batch_size: int
) -> dict[str, Any]:
    """The cost of snapshots every ``every`` steps, as a share of training time, in two parts
    (``plain`` and ``with_snapshots``: the same configuration and number of steps).

    * blocked: the training thread's own time per snapshot (capture, waiting for the worker thread's
      rendering, logging), timed in the loop, median over the snapshots taken during training (the
      one after the last step is rendered with nothing left to overlap), spread over ``every`` steps;
    * slower steps: steady-state samples/s without snapshots over samples/s with them (the worker
      thread competes for the host), minus one. This part is noisy at small step counts.
    Run wall times are reported too, but they carry start-up and compilation time.
    """
    blocked = with_snapshots["snapshot_blocked_s"]
    during = [seconds for step, seconds in blocked if step < with_snapshots["steps"]] or [
        seconds for _, seconds in blocked
    ]
    per_snapshot = statistics.median(during)
    step_seconds = batch_size / plain["samples_per_s"]
    blocked_share = per_snapshot / (every * step_seconds)
    slower_steps = plain["samples_per_s"] / with_snapshots["samples_per_s"] - 1
    return {
        "every_n_steps": every,
        "snapshots_taken": len(blocked),
        "blocked_seconds_per_snapshot": per_snapshot,
        "seconds_per_step": step_seconds,
        "blocked_share": blocked_share,
        "slower_steps": slower_steps,
        "overhead": blocked_share + slower_steps,
        "wall_time_without_s": plain["wall_time_s"],
        "wall_time_with_s": with_snapshots["wall_time_s"],
    }


def generation_throughput(family: str, n_models: int, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Velocity models per second through the deepwave forward model (5 shots each)."""
    velocity = torch.from_numpy(velocity_models(np.random.default_rng(0), family, n_models))
    simulate_shot_gathers(velocity[:1].to(device))
    _synchronize(device)
    started = time.perf_counter()
    for start in range(0, n_models, batch_size):
        simulate_shot_gathers(velocity[start : start + batch_size].to(device)).cpu()
    _synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "family": family,
        "n_models": n_models,
        "batch_size": batch_size,
        "seconds": seconds,
        "models_per_s": n_models / seconds,
    }


def markdown_table(result: dict[str, Any]) -> str:
    """The measurements as a markdown table."""
    lines = [
        f"{result['model']} ({result['forward_gflop_per_sample']:.2f} GFLOP forward/sample), batch {result['batch_size']}, "
        f"{result['steps']} steps; device {result['device']} ({result['device_name']}), torch {result['torch']}, {result['threads']} threads",
        "",
        "| configuration | samples/s | × reference | TFLOP/s | peak GPU GB | peak host RSS GB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        gpu = "—" if row["peak_gpu_gb"] is None else f"{row['peak_gpu_gb']:.2f}"
        lines.append(
            f"| {row['configuration']} | {row['samples_per_s']:.2f} | {row['ratio_to_reference']:.2f} | "
            f"{row['achieved_tflops']:.3f} | {gpu} | {row['peak_host_rss_gb']:.2f} |"
        )
    snapshot = result["snapshot_overhead"]
    lines += [
        "",
        f"Activation snapshots every {snapshot['every_n_steps']} steps ({snapshot['configuration']}): "
        f"{snapshot['overhead']:+.2%} of training time = {snapshot['blocked_share']:+.2%} blocked "
        f"({snapshot['blocked_seconds_per_snapshot']:.3f} s per snapshot, {snapshot['seconds_per_step']:.3f} s per step) "
        f"{snapshot['slower_steps']:+.2%} slower steps; {snapshot['snapshots_taken']} snapshots, run wall times "
        f"{snapshot['wall_time_with_s']:.1f} s with, {snapshot['wall_time_without_s']:.1f} s without.",
    ]
    if "generation" in result:
        gen = result["generation"]
        lines.append(
            f"Data generation ({gen['family']}, deepwave, batch {gen['batch_size']}): {gen['models_per_s']:.1f} models/s."
        )
    return "\n".join(lines)


def rss_versus_size(
    sizes: list[int], out_dir: Path, batch_size: int = 8, extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Peak RSS of one full training epoch (fresh process each) on random splits of each size.

    The splits are read sample by sample from disk, so the peak should not grow with the size.
    """
    rows = []
    script = Path(__file__).resolve().parents[2] / "scripts" / "train.py"
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
            root = write_random_split(Path(scratch) / "data", size)
            run_dir = Path(scratch) / "run"
            finished = subprocess.run(
                [
                    sys.executable,
                    str(script),
                    "data=curvefault_a",
                    f"data.root={root}",
                    "data.train_split=train.txt",
                    "data.val_split=val.txt",
                    f"data.val_samples={batch_size}",
                    "trainer.device=cpu",
                    "trainer.epochs=1",
                    f"trainer.batch_size={batch_size}",
                    "logger=none",
                    "diagnostics=off",
                    f"hydra.run.dir={run_dir}",
                    *extra,
                ],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if finished.returncode != 0:
                last = (finished.stderr.strip().splitlines() or ["no output"])[-1]
                raise FwilabError(f"training on {size} samples failed: {last}")
            record = json.loads((run_dir / "metrics.json").read_text())
            rows.append(
                {
                    "samples": size,
                    "data_gb": size * 5 * 1000 * 70 * 4 / 1e9,
                    "peak_host_rss_gb": record["peak_host_rss_gb"],
                    "steps": record["total_steps"],
                }
            )
    return rows


def _junit_counts(path: Path) -> dict[str, int] | None:
    """Test counts from a pytest --junitxml file."""
    if not path.is_file():
        return None
    suite = ElementTree.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]}


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def write_gpu_report(folder: str | Path, deepwave_build_seconds: str = "null") -> dict[str, Any]:
    """gpu_check.sh's report: GPU tests, benchmark and the end-to-end run, as gpu_report.json and .md in ``folder``."""
    folder = Path(folder)
    benchmark = _read_json(folder / "benchmark" / "benchmark.json")
    train_run = _read_json(folder / "train" / "metrics.json")
    report = {
        "gpu_tests": _junit_counts(folder / "gpu_tests.xml"),
        "deepwave_build_seconds": None if deepwave_build_seconds in ("", "null") else float(deepwave_build_seconds),
        "benchmark": benchmark,
        "train": None
        if train_run is None
        else {key: train_run.get(key) for key in ("status", "best", "train_samples_per_s", "wall_time_s", "device")},
    }
    lines = ["# GPU check", ""]
    tests = report["gpu_tests"]
    lines.append(
        f"GPU tests: {tests['passed']} passed, {tests['failures'] + tests['errors']} failed, {tests['skipped']} skipped"
        if tests
        else "GPU tests: no result (see gpu_tests.log)"
    )
    if report["deepwave_build_seconds"] is not None:
        lines.append(f"deepwave built from its sdist for this GPU in {report['deepwave_build_seconds']:.0f} s")
    lines += ["", markdown_table(benchmark) if benchmark else "Benchmark: no result (see benchmark.out)", ""]
    if report["train"] and report["train"]["best"]:
        best = report["train"]["best"]
        lines.append(
            f"train.py end to end: {report['train']['status']}, best MAE {best['mae']:.4f}, SSIM {best['ssim']:.4f}, "
            f"{report['train']['train_samples_per_s']:.0f} samples/s"
        )
    else:
        lines.append("train.py end to end: no result (see train.out)")
    write_json(folder / "gpu_report.json", report)
    (folder / "gpu_report.md").write_text("\n".join(lines) + "\n")
    return report
