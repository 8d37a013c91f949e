"""Seconds per refinement iteration per sample, configurations side by side in one process.

Each configuration refines the same maps against the same gathers the way the refine task does on CPU (whole
batches per core, one thread each, ``on_each_core``), and the configurations take turns, repeat after repeat, so
a load that comes and goes on a shared machine falls on all of them alike. The cost of a propagation does not
depend on the velocities, so generated maps (blurred, as a network's look) stand in for a checkpoint's.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict
from functools import partial
from typing import Any

import numpy as np
import torch

from fwilab.config.groups import RefineSettings
from fwilab.data.synthetic.velocity import velocity_models
from fwilab.data_contract import VELOCITY_RANGE
from fwilab.device import available_cores
from fwilab.physics.forward import on_each_core, simulate_models
from fwilab.physics.refine import gaussian_smooth, refine


def _refine_part(start: torch.Tensor, observed: torch.Tensor, settings: RefineSettings, part: slice) -> torch.Tensor:
    return refine(start[part], observed[part], settings, VELOCITY_RANGE)[0]


def refinement_cost(
    configurations: dict[str, tuple[RefineSettings, int]], family: str, samples: int, repeats: int
) -> dict[str, Any]:
    """For each configuration (settings, batch size): seconds per iteration per sample (wall-clock, all cores)
    of every repeat, their median, and the first configuration's median over each one's (its speed-up)."""
    truth = velocity_models(np.random.default_rng(0), family, samples)
    observed = torch.from_numpy(simulate_models(truth, samples, torch.device("cpu")))
    start = gaussian_smooth(torch.from_numpy(truth), 4.0)
    seconds: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(repeats):
        for name, (settings, batch_size) in configurations.items():
            size = min(batch_size, math.ceil(samples / available_cores()))  # as the refine task cuts them
            batches = [slice(first, first + size) for first in range(0, samples, size)]
            began = time.perf_counter()
            on_each_core(partial(_refine_part, start, observed, settings), batches)
            seconds[name].append((time.perf_counter() - began) / (settings.iterations * samples))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    first = next(iter(medians.values()))
    return {
        "family": family,
        "samples": samples,
        "repeats": repeats,
        "cpu_cores": available_cores(),
        "configurations": {
            name: {
                "settings": asdict(settings),
                "batch_size": batch_size,
                "seconds_per_iteration_per_sample": seconds[name],
                "median": medians[name],
                "speedup_over_first": first / medians[name],
            }
            for name, (settings, batch_size) in configurations.items()
        },
    }
