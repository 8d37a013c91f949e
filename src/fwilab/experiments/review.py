"""One static HTML page to review a run or a sweep offline (review.py): no server, no network.

The page is built from the run directories alone: the sweep table (sortable by any column),
validation-MAE curves (inline SVG), and for each run its snapshot pictures, layer by layer, with
a step slider: the layer's PCA-RGB picture and channel montage next to the velocity panels and the
layer's statistics at that step. Every picture is embedded as a data URI, so the one file can be
copied anywhere and opened in any browser; ``max_snapshots`` bounds its size (evenly spaced steps,
the last one always kept). Evaluate runs with ``physics.samples`` and refine runs get a data-misfit table
and their pictures instead. The page is the package's template ``templates/review.html`` (jinja2).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from fwilab.errors import DataError
from fwilab.experiments.summary import COLUMNS, Job, load_jobs, read_job, summary_rows, varying_keys
from fwilab.io import atomic_write
from fwilab.tracking.run_logger import read_statistics

CURVE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")


def review_jobs(directory: str | Path) -> list[tuple[Job, Path]]:
    """(job, its directory) for every job of a sweep directory, or for the one run of a run directory."""
    directory = Path(directory)
    if (directory / "metrics.json").is_file():
        return [(read_job(directory, []), directory)]
    return [(job, directory / job.name) for job in load_jobs(directory)]


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _kept_steps(steps: list[int], limit: int) -> list[int]:
    if len(steps) <= limit:
        return steps
    picks = {steps[round(i * (len(steps) - 1) / (limit - 1))] for i in range(limit)}
    return sorted(picks)


def run_snapshots(run_dir: Path, max_snapshots: int) -> dict[str, Any]:
    """A run's snapshot steps, layers, embedded pictures and statistics, as the page's script reads them."""
    folders = {int(p.name.removeprefix("step_")): p for p in (run_dir / "activations").glob("step_*") if p.is_dir()}
    steps = _kept_steps(sorted(folders), max_snapshots)
    statistics = read_statistics(run_dir)
    pictures: dict[int, dict[str, str]] = {}
    layers: dict[str, None] = {}
    for step in steps:
        pictures[step] = {png.stem: _data_uri(png) for png in sorted(folders[step].glob("*.png"))}
        for name in pictures[step]:
            for kind in ("_montage", "_pca_rgb"):
                if name.endswith(kind):
                    layers[name.removesuffix(kind)] = None
    return {
        "steps": steps,
        "layers": list(layers),
        "pictures": {str(step): images for step, images in pictures.items()},
        "statistics": {str(step): statistics.get(step, {}) for step in steps},
    }


def job_label(job: Job, varying: set[str]) -> str:
    """'3 model=reconstruction seed=1': the job and the swept settings that tell it apart."""
    return " ".join([job.name, *(o for o in job.overrides if o.split("=", 1)[0] in varying)])


def curves_svg(jobs: list[Job], width: int = 800, height: int = 280) -> str:
    """Validation MAE against step for every job, as an inline SVG with a legend."""
    varying = varying_keys(jobs)
    series = [
        (job_label(job, varying), [(entry["step"], entry["mae"]) for entry in job.metrics.get("val_history") or []])
        for job in jobs
    ]
    points = [point for _, values in series for point in values]
    if not points:
        return "<p>No validation yet.</p>"
    steps, values = [p[0] for p in points], [p[1] for p in points]
    low, high = min(values), max(values)
    high = high if high > low else low + 1e-9
    last = max(max(steps), 1)
    margin = 48

    def xy(step: float, value: float) -> tuple[float, float]:
        x = margin + (width - 200 - margin) * step / last
        return x, height - margin - (height - 2 * margin) * (value - low) / (high - low)

    parts = [
        f'<svg id="curves" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
        f'<text x="{margin}" y="20" font-size="13">validation MAE (normalized) against step</text>',
        f'<text x="4" y="{margin}" font-size="11">{high:.4g}</text>',
        f'<text x="4" y="{height - margin}" font-size="11">{low:.4g}</text>',
        f'<text x="{margin}" y="{height - 20}" font-size="11">0</text>',
        f'<text x="{width - 200}" y="{height - 20}" font-size="11">{last}</text>',
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - 200}" y2="{height - margin}" stroke="#888"/>',
        f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="#888"/>',
    ]
    for index, (name, values_) in enumerate(series):
        colour = CURVE_COLOURS[index % len(CURVE_COLOURS)]
        placed = [xy(step, value) for step, value in values_]
        coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in placed)
        parts.append(
            f'<polyline class="curve" data-run="{html.escape(name)}" points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in placed]
        parts.append(
            f'<text x="{width - 160}" y="{margin + 14 * index}" font-size="11" fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _table_rows(jobs: list[Job]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(job, [(sort value, shown text) per column]) for each row of the sweep table."""
    rows = []
    for row in summary_rows(jobs):
        cells = []
        for column in COLUMNS:
            value = row[column]
            sort_value = "" if value is None else value
            shown = "—" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
            cells.append((str(sort_value), shown))
        rows.append((str(row["job"]), cells))
    return rows


def data_fit(job: Job, run_dir: Path) -> dict[str, Any] | None:
    """An evaluate run's (``physics.samples`` > 0) or a refine run's data misfit: mean and median per kind of map,
    the true maps' (the operator's floor) last, a refine run's MAE / RMSE / SSIM per kind of map (the refined set
    scored like a model), and its pictures; None for any other run."""
    metrics = job.metrics
    if "data_misfit_mean" in metrics:
        samples = metrics["physics_samples"]
        rows = [
            {"model": "network", "mean": metrics["data_misfit_mean"], "median": metrics["data_misfit_median"]},
            {
                "model": "truth",
                "mean": metrics["data_misfit_truth_mean"],
                "median": metrics["data_misfit_truth_median"],
            },
        ]
        rows = [{**row, "mae": None, "rmse": None, "ssim": None} for row in rows]
    elif "table" in metrics:
        samples = metrics["samples"]
        rows = [
            {
                "model": row["model"],
                "mean": row["data_misfit_mean"],
                "median": row["data_misfit_median"],
                **{key: row.get(key) for key in ("mae", "rmse", "ssim")},  # absent for gathers without maps
            }
            for row in metrics["table"]
        ]
    else:
        return None
    folders = ("data_fit", "pictures")  # evaluate's gathers, refine's maps and curves
    pictures = {f"{f}/{png.name}": _data_uri(png) for f in folders for png in sorted((run_dir / f).glob("*.png"))}
    return {"name": job.name, "samples": samples, "rows": rows, "pictures": pictures}


TEMPLATES = Environment(loader=PackageLoader("fwilab.experiments"), autoescape=True, undefined=StrictUndefined)
TEMPLATES.policies["json.dumps_kwargs"] = {"sort_keys": False}  # statistics in the order the run recorded them


def write_review(directory: str | Path, out: str | Path | None = None, max_snapshots: int = 6) -> Path:
    """Write the review page of a run or sweep directory (default ``<directory>/review.html``): training runs in the
    table, curves and snapshots; evaluate and refine runs in the data-misfit section."""
    if max_snapshots < 2:
        raise DataError(f"--max-snapshots {max_snapshots}: keep at least 2 snapshots per run (the first and the last)")
    directory = Path(directory)
    found = review_jobs(directory)
    fits = {job.name: fit for job, run_dir in found if (fit := data_fit(job, run_dir))}
    training = [(job, run_dir) for job, run_dir in found if job.name not in fits]
    fitted = [job for job, _ in found if job.name in fits]
    varying, fit_varying = varying_keys([job for job, _ in training]), varying_keys(fitted)  # labels within a section
    runs = {
        job.name: {"label": job_label(job, varying), **run_snapshots(run_dir, max_snapshots)}
        for job, run_dir in training
    }
    page = TEMPLATES.get_template("review.html").render(
        title=f"fwilab review: {directory.name}",
        source=str(directory),
        count=len(found),
        columns=COLUMNS,
        training=_table_rows([job for job, _ in training]),
        curves=curves_svg([job for job, _ in training]),  # SVG drawn here, its names escaped
        runs=runs,
        data_fit=[{**fits[job.name], "label": job_label(job, fit_varying)} for job in fitted],
    )
    path = Path(out) if out else directory / "review.html"
    encoded = page.encode()
    atomic_write(path, lambda handle: handle.write(encoded))
    return path
