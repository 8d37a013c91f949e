"""Synthetic-data generation throughput through the deepwave forward model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from fwilab.benchmarking.measure import synchronize
from fwilab.data.synthetic.forward import simulate_shot_gathers
from fwilab.data.synthetic.velocity import velocity_models


def generation_throughput(family: str, n_models: int, batch_size: int, device: torch.device) -> dict[str, Any]:
    """Velocity models per second through the deepwave forward model (5 shots each)."""
    velocity = torch.from_numpy(velocity_models(np.random.default_rng(0), family, n_models))
    simulate_shot_gathers(velocity[:1].to(device))
    synchronize(device)
    started = time.perf_counter()
    for start in range(0, n_models, batch_size):
        simulate_shot_gathers(velocity[start : start + batch_size].to(device)).cpu()
    synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "family": family,
        "n_models": n_models,
        "batch_size": batch_size,
        "seconds": seconds,
        "models_per_s": n_models / seconds,
    }
