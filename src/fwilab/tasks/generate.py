"""The generate_data.py task: a synthetic OpenFWI-format data set, with optional preview and faithfulness report."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from fwilab.config.tasks import GenerateSettings
from fwilab.data.synthetic.generate import GenerationPlan, file_pair, generate_dataset
from fwilab.diagnostics.faithfulness_report import N_MAPS, render_faithfulness_report
from fwilab.diagnostics.preview import render_dataset_preview

log = logging.getLogger(__name__)


def _first_samples(out: Path, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(velocity, seismic) of the set's first ``n_samples`` samples, read from its first file only."""
    pair = file_pair(out, 1)
    velocity = np.asarray(np.load(pair.velocity, mmap_mode="r")[:n_samples])
    seismic = np.asarray(np.load(pair.seismic, mmap_mode="r")[:n_samples])
    return velocity, seismic


def write_preview(out: str | Path, n_samples: int = 4) -> Path:
    """``out/preview.png``: the first velocity models of the data set beside their shot gathers."""
    out = Path(out)
    velocity, seismic = _first_samples(out, n_samples)
    return render_dataset_preview(velocity, seismic, out / "preview.png")


def write_report(out: str | Path, metadata: dict) -> Path:
    """``out/report.png``: the first maps and gathers of the set beside its statistics and their real targets."""
    out = Path(out)
    velocity, seismic = _first_samples(out, N_MAPS)
    return render_faithfulness_report(
        velocity, seismic, metadata["faithfulness"], metadata["family"], out / "report.png"
    )


def log_faithfulness(metadata: dict) -> None:
    """One line per statistic: generated, real, bounds; a warning for one outside its bounds."""
    for row in metadata["faithfulness"]:
        if row["real"] is None:
            log.info("%-28s %10.3f", row["statistic"], row["generated"])
            continue
        level = logging.INFO if row["within"] else logging.WARNING
        low, high = row["bounds"]
        log.log(
            level,
            "%-28s %10.3f   real %8.3f   bounds %g .. %g",
            row["statistic"],
            row["generated"],
            row["real"],
            low,
            high,
        )


def generate_from_config(settings: GenerateSettings) -> dict:
    """The generate_data.py task: generate, then optionally the report and the preview."""
    plan = GenerationPlan(settings.family, settings.n_train, settings.n_val, settings.seed, settings.samples_per_file)
    metadata = generate_dataset(
        settings.out, plan, batch_size=settings.batch_size, device=settings.device, progress=settings.progress
    )
    log.info(
        "%s: normalized with %s's published range %.2f .. %.2f (observed %.2f .. %.2f)",
        settings.out,
        plan.family,
        metadata["data_min"],
        metadata["data_max"],
        metadata["observed_data_min"],
        metadata["observed_data_max"],
    )
    if settings.report:
        log_faithfulness(metadata)
        log.info("report: %s", write_report(settings.out, metadata))
    if settings.preview:
        log.info("preview: %s", write_preview(settings.out, settings.preview_samples))
    return metadata
