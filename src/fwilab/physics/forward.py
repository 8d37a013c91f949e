"""Acoustic forward modelling with deepwave in OpenFWI's acquisition geometry.

Geometry (OpenFWI, as its maintainers describe it in lanl/OpenFWI issue #12): 5 sources at surface
cells x = 0, 17, 34, 52, 69 and 70 receivers at every surface cell, in the first grid row (OpenFWI
gives positions as index * dx on a (1:n) * dx grid: receivers at gx = (1:nx) * dx, depth 1 * dx);
15 Hz Ricker wavelet peaking at 0.1 s; dt = 1 ms; 1000 samples; no free surface: every side
absorbs (a 10-cell PML, where OpenFWI used a 120-cell absorbing boundary; the README compares).

Numerical choices, measured on 8 CurveFault-A-like models against a reference run with an
8th-order stencil, a 60-cell PML and a 0.3 Courant number: this module's settings (4th-order
stencil, ``courant_number=0.65`` = one internal step per 1 ms, 10-cell PML) differ from it by 2.6%
relative L2 in the recorded data (4.9% after 0.4 s), almost all of it stencil and time-stepping
error; against a 40-cell PML the 10-cell one differs by 0.19% (0.57% after 0.4 s), while every
cell it saves shrinks the grid (94 x 94 cells with the stencil's padding instead of 114 x 114 for
20 cells: 1.4x faster).
``max_vel`` is fixed at 4500 m/s so that a model's data never depends on which other models share
its batch.

On CPU, deepwave spreads each time step of one shot over the cores; on a 94 x 94 grid the threads
wait on each other (2 threads: 1.5x one thread). ``simulate_models`` instead gives each core whole
models, one thread each (``on_each_core``, which the refinement uses too), which gives bitwise the same gathers.

Amplitude convention: deepwave's scalar propagator records the opposite polarity to OpenFWI's
data, so the output is negated. The source amplitude is calibrated once: a homogeneous 2950 m/s
medium (the fastest top layer of CurveFault-A, whose direct wave sets the data maximum) peaks at
52.32, CurveFault-A's published maximum (tested). Other families then land within 15% of their
published ranges.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import ModuleType
from typing import TypeVar

import numpy as np
import torch

from fwilab.data_contract import SEISMIC_SHAPE, VELOCITY_RANGE
from fwilab.device import available_cores
from fwilab.errors import FwilabError

SOURCE_X = (0, 17, 34, 52, 69)
N_SOURCES, N_TIME, N_RECEIVERS = SEISMIC_SHAPE
SOURCE_DEPTH_CELLS = 0  # the first grid row: OpenFWI's depth 1 * dx on its (1:n) * dx grid
GRID_SPACING_M = 10.0
DT_S = 1e-3
PEAK_FREQUENCY_HZ = 15.0
PEAK_TIME_S = 1.5 / PEAK_FREQUENCY_HZ
MAX_VELOCITY = VELOCITY_RANGE[1]
COURANT_NUMBER = 0.65
PML_WIDTH = 10
SOURCE_AMPLITUDE = 1.09917
Item = TypeVar("Item")
Result = TypeVar("Result")


def import_deepwave() -> ModuleType:
    """deepwave, imported on first use: training on existing files or benchmarking must not need it."""
    try:
        import deepwave
    except ImportError as error:
        raise FwilabError(f"generating synthetic data needs deepwave ({error}): pip install deepwave") from None
    return deepwave


def propagation_device(device: torch.device) -> torch.device:
    """Where deepwave can propagate for a task whose model runs on ``device``: CPU and CUDA only (Apple's mps: the CPU)."""
    return torch.device("cpu") if device.type == "mps" else device


def ricker_wavelet(dtype: torch.dtype = torch.float32, n_time: int = N_TIME) -> torch.Tensor:
    """The source time function (n_time,), scaled by the calibrated source amplitude."""
    return SOURCE_AMPLITUDE * import_deepwave().wavelets.ricker(
        PEAK_FREQUENCY_HZ, n_time, DT_S, PEAK_TIME_S, dtype=dtype
    )


def simulate_shot_gathers(
    velocity: torch.Tensor, n_time: int = N_TIME, *, gradient_sampling_interval: int = 1
) -> torch.Tensor:
    """Shot gathers (n, 5, n_time, 70) for velocity maps (n, 1, 70, 70) or (n, 70, 70) in m/s.

    All 5 shots of all n models propagate in one deepwave call on the velocity tensor's device.
    Differentiable in ``velocity`` (deepwave's adjoint); float64 maps propagate in float64 (the
    finite-difference test of the gradient), anything else in float32 (the generator's data).
    ``n_time`` shortens the record (cheap tests, refinement's ``record_s``); the first samples are the same as the
    full one's. ``gradient_sampling_interval`` k: the gradient's time integral summed every k-th step (deepwave's
    ``model_gradient_sampling_interval``: k times less wavefield stored and correlated); k must divide ``n_time``
    when the maps require a gradient, and is ignored when they do not.
    """
    if velocity.dim() == 4:
        velocity = velocity[:, 0]
    n, nz, nx = velocity.shape
    device = velocity.device
    dtype = torch.float64 if velocity.dtype == torch.float64 else torch.float32
    models = velocity.to(dtype).repeat_interleave(N_SOURCES, dim=0)
    n_shots = n * N_SOURCES
    source_locations = torch.zeros(n_shots, 1, 2, dtype=torch.long, device=device)
    source_locations[:, 0, 0] = SOURCE_DEPTH_CELLS
    source_locations[:, 0, 1] = torch.tensor(SOURCE_X, device=device).repeat(n)
    receiver_locations = torch.zeros(n_shots, N_RECEIVERS, 2, dtype=torch.long, device=device)
    receiver_locations[:, :, 0] = SOURCE_DEPTH_CELLS
    receiver_locations[:, :, 1] = torch.arange(N_RECEIVERS, device=device)
    amplitudes = ricker_wavelet(dtype, n_time).to(device).expand(n_shots, 1, n_time).contiguous()
    deepwave = import_deepwave()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", deepwave.DeepwaveWarning)
        result = deepwave.scalar(
            models,
            GRID_SPACING_M,
            DT_S,
            source_amplitudes=amplitudes,
            source_locations=source_locations,
            receiver_locations=receiver_locations,
            accuracy=4,
            pml_width=PML_WIDTH,
            pml_freq=PEAK_FREQUENCY_HZ,
            max_vel=MAX_VELOCITY,
            courant_number=COURANT_NUMBER,
            model_gradient_sampling_interval=gradient_sampling_interval,
        )
    recorded = result.receiver_amplitudes
    return -recorded.reshape(n, N_SOURCES, N_RECEIVERS, n_time).transpose(2, 3).contiguous()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch (and deepwave's OpenMP) on ``n`` threads inside the block: one per core-sized worker, whose
    per-time-step barriers would otherwise wait on busy cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def cores_of_this_process() -> int:
    """The cores this process may fill: its share of the machine's when torchrun started several on it."""
    return max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def on_each_core(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``function`` of every item, in order, on one single-threaded worker per core (no more workers than items):
    on a small grid deepwave's own threads wait on each other at every time step; whole items per core do not."""
    with torch_threads(1), ThreadPoolExecutor(max(1, min(available_cores(), len(items)))) as pool:
        return list(pool.map(function, items))


def simulate_models(velocity: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Shot gathers (n, 5, 1000, 70) float32 for velocity maps (n, 1, 70, 70): the generator's path.

    On a GPU, ``batch_size`` models propagate per call. On CPU, the models are split into equal
    chunks of at most ``batch_size``, propagated by one single-threaded call per core at a time.
    """
    n = len(velocity)
    if device.type != "cpu":
        return np.concatenate(
            [
                simulate_shot_gathers(torch.from_numpy(velocity[start : start + batch_size]).to(device)).cpu().numpy()
                for start in range(0, n, batch_size)
            ]
        )
    workers = min(available_cores(), n)
    n_chunks = workers * math.ceil(n / (workers * batch_size))
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(int)
    chunks = [torch.from_numpy(velocity[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a]
    return np.concatenate([gathers.numpy() for gathers in on_each_core(simulate_shot_gathers, chunks)])
