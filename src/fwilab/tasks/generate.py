"""The generate_data.py task: a synthetic OpenFWI-format data set, timed, with an optional preview picture."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from fwilab.data.synthetic.generate import GenerationPlan, file_pair, generate_dataset
from fwilab.diagnostics.preview import render_dataset_preview

log = logging.getLogger(__name__)


def write_preview(out: str | Path, n_samples: int = 4) -> Path:
    """``out/preview.png``: the first velocity models of the data set beside their shot gathers."""
    out = Path(out)
    pair = file_pair(out, 1)
    seismic = np.load(pair.seismic, mmap_mode="r")[:n_samples]
    velocity = np.load(pair.velocity, mmap_mode="r")[:n_samples]
    return render_dataset_preview(np.asarray(velocity), np.asarray(seismic), out / "preview.png")


def generate_from_config(cfg: Any) -> dict:
    """The generate_data.py task: generate, time it, optionally write the preview."""
    plan = GenerationPlan(cfg.family, cfg.n_train, cfg.n_val, cfg.seed, cfg.samples_per_file)
    started = time.perf_counter()
    metadata = generate_dataset(cfg.out, plan, batch_size=cfg.batch_size, device=cfg.device, progress=cfg.progress)
    seconds = time.perf_counter() - started
    log.info(
        "%s: %d models in %.1f s; data range %.2f .. %.2f",
        cfg.out,
        plan.n_train + plan.n_val,
        seconds,
        metadata["data_min"],
        metadata["data_max"],
    )
    if cfg.preview:
        log.info("preview: %s", write_preview(cfg.out, cfg.preview_samples))
    return metadata
