"""Device-aware timing and memory readings shared by the measurements."""

from __future__ import annotations

import torch

from fwilab.device import peak_rss_gb


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def memory_peaks(device: torch.device) -> dict[str, float]:
    """Peak host RSS and (on a GPU) peak allocated GPU memory so far, in GB."""
    peak_rss = peak_rss_gb()
    gpu = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return {"peak_host_rss_gb": peak_rss, "peak_gpu_gb": gpu}
