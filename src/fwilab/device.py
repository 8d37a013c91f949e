"""Device selection shared by training, evaluation and data generation, and the host memory a run peaked at."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from fwilab.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N


def available_cores() -> int:
    """The CPU cores this process may run on: its affinity mask where the OS keeps one (Linux), else every core
    (macOS and Windows have no ``os.sched_getaffinity``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def mps_available() -> bool:
    """Whether Apple's GPU (torch's ``mps`` backend) is usable here."""
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(device: str, allow_mps: bool = True) -> torch.device:
    """'auto' is the CUDA GPU when one is present, else Apple's GPU (mps, where the caller can use it), else the CPU;
    a device asked for by name that is not there is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if allow_mps and mps_available() else "cpu")
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"device={device!r} is not one of {', '.join(DEVICES)}")
    if device == "mps" and not allow_mps:
        raise ConfigError("device='mps': this task runs on cpu or cuda only; use device=auto or cpu")
    if device == "mps" and not mps_available():
        raise ConfigError("device='mps' was asked for but Apple's GPU (MPS) is not available; use device=auto or cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but no CUDA GPU is available; use device=auto or cpu")
    return torch.device(device)


def peak_rss_gb() -> float:
    """This program's peak resident memory so far, in GB (a train run's ``peak_host_rss_gb``; the benchmarks').

    Linux's VmHWM counts this program image only; ``ru_maxrss`` would also carry the peak of the
    process that forked it across ``exec``.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e6
    import resource  # Unix only: imported where needed, so the device helpers import anywhere

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
