"""Where a generated model's time goes: velocity drawing, deepwave propagation, writing the files."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fwilab.benchmarking.measure import synchronize
from fwilab.data.synthetic.generate import save_npy
from fwilab.data.synthetic.velocity import velocity_models
from fwilab.device import available_cores
from fwilab.physics import forward


def generation_throughput(family: str, n_models: int, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Seconds per model of each stage of the generator, through its own functions, and models per second."""
    forward.simulate_models(velocity_models(np.random.default_rng(1), family, 1), batch_size, device)
    synchronize(device)
    started = time.perf_counter()
    velocity = velocity_models(np.random.default_rng(0), family, n_models)
    drawn = time.perf_counter()
    seismic = forward.simulate_models(velocity, batch_size, device)
    synchronize(device)
    propagated = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        save_npy(Path(folder) / "model.npy", velocity)
        save_npy(Path(folder) / "data.npy", seismic)
    written = time.perf_counter()
    seconds = written - started
    return {
        "family": family,
        "n_models": n_models,
        "batch_size": batch_size,
        "cpu_threads": available_cores() if device.type == "cpu" else None,
        "velocity_ms_per_model": (drawn - started) / n_models * 1e3,
        "propagation_ms_per_model": (propagated - drawn) / n_models * 1e3,
        "writing_ms_per_model": (written - propagated) / n_models * 1e3,
        "seconds": seconds,
        "models_per_s": n_models / seconds,
        "minutes_per_1000_models": 1000 * seconds / n_models / 60,
    }
