"""One static HTML page to review a run or a sweep offline (review.py): no server, no network.

The page is built from the run directories alone: the sweep table (sortable by any column),
validation-MAE curves (inline SVG), and for each run its snapshot pictures, layer by layer, with
a step slider: the layer's PCA-RGB picture and channel montage next to the velocity panels and the
layer's statistics at that step. Every picture is embedded as a data URI, so the one file can be
copied anywhere and opened in any browser; ``max_snapshots`` bounds its size (evenly spaced steps,
the last one always kept).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from fwilab.errors import DataError
from fwilab.experiments.summary import COLUMNS, Job, load_jobs, read_job, summary_rows, varying_keys
from fwilab.io import atomic_write
from fwilab.logging.run_logger import read_statistics

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


def _table(jobs: list[Job]) -> str:
    rows = summary_rows(jobs)
    head = "".join(f'<th data-key="{c}">{c}</th>' for c in COLUMNS)
    body = []
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row[column]
            sort_value = "" if value is None else value
            shown = "—" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
            cells.append(f'<td data-value="{html.escape(str(sort_value))}">{html.escape(shown)}</td>')
        body.append(f'<tr data-job="{html.escape(str(row["job"]))}">{"".join(cells)}</tr>')
    return f'<table id="sweep-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}
th {{ cursor: pointer; background: #f2f2f2; }}
th.sorted {{ background: #d8e6f5; }}
#controls {{ margin: 1em 0; display: flex; gap: 1.5em; align-items: center; }}
#pictures {{ display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }}
figure {{ margin: 0; }} figcaption {{ font-size: 12px; color: #555; }}
img {{ image-rendering: pixelated; max-width: 480px; border: 1px solid #ddd; }}
#layer-statistics td:first-child {{ text-align: left; }}
</style></head><body>
<h1>{title}</h1>
<p>From <code>{source}</code>: {count} run(s). Click a column to sort.</p>
{table}
<h2>Validation curves</h2>
{curves}
<h2>Activations over training</h2>
<div id="controls">
<label>run <select id="run-select"></select></label>
<label>layer <select id="layer-select"></select></label>
<label>step <input id="step-slider" type="range" min="0" max="0" value="0"> <span id="step-label"></span></label>
</div>
<div id="pictures">
<figure><img id="layer-pca" alt="PCA-RGB"><figcaption>PCA-RGB (first probe sample)</figcaption></figure>
<figure><img id="layer-montage" alt="montage"><figcaption>channel montage</figcaption></figure>
<figure><table id="layer-statistics"></table><figcaption>layer statistics at this step</figcaption></figure>
<div id="velocity"></div>
</div>
<script>
const RUNS = {runs};
const $ = (id) => document.getElementById(id);
function sortTable(th) {{
  const table = $("sweep-table"), body = table.tBodies[0];
  const index = Array.from(th.parentNode.children).indexOf(th);
  const ascending = th.dataset.order !== "asc";
  Array.from(th.parentNode.children).forEach((h) => {{ h.classList.remove("sorted"); delete h.dataset.order; }});
  th.classList.add("sorted"); th.dataset.order = ascending ? "asc" : "desc";
  const key = (row) => {{ const v = row.children[index].dataset.value; const n = parseFloat(v);
    return v === "" ? null : (isNaN(n) ? v : n); }};
  const rows = Array.from(body.rows).sort((a, b) => {{
    const x = key(a), y = key(b);
    if (x === null) return 1; if (y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  }});
  rows.forEach((row) => body.appendChild(row));
}}
document.querySelectorAll("#sweep-table th").forEach((th) => th.addEventListener("click", () => sortTable(th)));
function show() {{
  const run = RUNS[$("run-select").value]; if (!run || !run.steps.length) return;
  const step = String(run.steps[$("step-slider").value]);
  const layer = $("layer-select").value, pictures = run.pictures[step] || {{}};
  $("step-label").textContent = step;
  $("layer-pca").src = pictures[layer + "_pca_rgb"] || "";
  $("layer-pca").parentNode.style.display = pictures[layer + "_pca_rgb"] ? "" : "none";
  $("layer-montage").src = pictures[layer + "_montage"] || "";
  const numbers = (run.statistics[step] || {{}})[layer] || {{}};
  $("layer-statistics").innerHTML = Object.entries(numbers)
    .map(([name, value]) => `<tr><td>${{name}}</td><td>${{value.toPrecision(4)}}</td></tr>`).join("");
  $("velocity").innerHTML = Object.keys(pictures).filter((k) => k.startsWith("velocity_")).sort()
    .map((k) => `<figure><img class="velocity" src="${{pictures[k]}}"><figcaption>${{k}}</figcaption></figure>`).join("");
}}
function chooseRun() {{
  const run = RUNS[$("run-select").value];
  $("layer-select").innerHTML = run.layers.map((l) => `<option>${{l}}</option>`).join("");
  $("step-slider").max = Math.max(run.steps.length - 1, 0);
  $("step-slider").value = Math.max(run.steps.length - 1, 0);
  show();
}}
$("run-select").innerHTML = Object.entries(RUNS).map(([r, run]) => `<option value="${{r}}">${{run.label}}</option>`).join("");
$("run-select").addEventListener("change", chooseRun);
$("layer-select").addEventListener("change", show);
$("step-slider").addEventListener("input", show);
if (Object.keys(RUNS).length) chooseRun();
</script></body></html>
"""


def write_review(directory: str | Path, out: str | Path | None = None, max_snapshots: int = 6) -> Path:
    """Write the review page of a run or sweep directory (default ``<directory>/review.html``)."""
    if max_snapshots < 2:
        raise DataError(f"--max-snapshots {max_snapshots}: keep at least 2 snapshots per run (the first and the last)")
    directory = Path(directory)
    found = review_jobs(directory)
    jobs = [job for job, _ in found]
    varying = varying_keys(jobs)
    runs = {
        job.name: {
            "label": job_label(job, varying),
            **run_snapshots(run_dir, max_snapshots),
        }
        for job, run_dir in found
    }
    page = PAGE.format(
        title=html.escape(f"fwilab review: {directory.name}"),
        source=html.escape(str(directory)),
        count=len(jobs),
        table=_table(jobs),
        curves=curves_svg(jobs),
        runs=json.dumps(runs).replace("</", "<\\/"),
    )
    path = Path(out) if out else directory / "review.html"
    encoded = page.encode()
    atomic_write(path, lambda handle: handle.write(encoded))
    return path
