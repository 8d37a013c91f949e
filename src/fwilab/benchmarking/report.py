"""The measurements as markdown, and gpu_check.sh's report (GPU tests, benchmark, end-to-end run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from fwilab.io import write_json
from fwilab.metric_registry import format_metrics


def markdown_table(result: dict[str, Any]) -> str:
    """The measurements as a markdown table."""
    lines = [
        f"{result['model']} ({result['forward_gflop_per_sample']:.2f} GFLOP forward/sample), batch {result['batch_size']}, "
        f"{result['steps']} steps; device {result['device']} ({result['device_name']}), torch {result['torch']}, {result['threads']} threads",
        "",
        "| configuration | samples/s | × reference | TFLOP/s | peak GPU GB | peak host RSS GB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        gpu = "—" if row["peak_gpu_gb"] is None else f"{row['peak_gpu_gb']:.2f}"
        lines.append(
            f"| {row['configuration']} | {row['samples_per_s']:.2f} | {row['ratio_to_reference']:.2f} | "
            f"{row['achieved_tflops']:.3f} | {gpu} | {row['peak_host_rss_gb']:.2f} |"
        )
    snapshot = result["snapshot_overhead"]
    lines += [
        "",
        f"Activation snapshots every {snapshot['every_n_steps']} steps ({snapshot['configuration']}): "
        f"{snapshot['overhead']:+.2%} of training time = {snapshot['blocked_share']:+.2%} blocked "
        f"({snapshot['blocked_seconds_per_snapshot']:.3f} s per snapshot, {snapshot['seconds_per_step']:.3f} s per step) "
        f"{snapshot['slower_steps']:+.2%} slower steps; {snapshot['snapshots_taken']} snapshots, run wall times "
        f"{snapshot['wall_time_with_s']:.1f} s with, {snapshot['wall_time_without_s']:.1f} s without.",
    ]
    if "generation" in result:
        gen = result["generation"]
        lines.append(
            f"Data generation ({gen['family']}, deepwave, batch {gen['batch_size']}): {gen['models_per_s']:.1f} models/s "
            f"(per model: velocity {gen['velocity_ms_per_model']:.1f} ms, propagation {gen['propagation_ms_per_model']:.1f} ms, "
            f"writing {gen['writing_ms_per_model']:.1f} ms), {gen['minutes_per_1000_models']:.1f} min per 1,000 models."
        )
    return "\n".join(lines)


def _junit_counts(path: Path) -> dict[str, int] | None:
    """Test counts from a pytest --junitxml file."""
    if not path.is_file():
        return None
    suite = ElementTree.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]}


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def write_gpu_report(folder: str | Path, deepwave_build_seconds: str = "null") -> dict[str, Any]:
    """gpu_check.sh's report: GPU tests, benchmark and the end-to-end run, as gpu_report.json and .md in ``folder``."""
    folder = Path(folder)
    benchmark = _read_json(folder / "benchmark" / "benchmark.json")
    train_run = _read_json(folder / "train" / "metrics.json")
    report = {
        "gpu_tests": _junit_counts(folder / "gpu_tests.xml"),
        "deepwave_build_seconds": None if deepwave_build_seconds in ("", "null") else float(deepwave_build_seconds),
        "benchmark": benchmark,
        "train": None
        if train_run is None
        else {key: train_run.get(key) for key in ("status", "best", "train_samples_per_s", "wall_time_s", "device")},
    }
    lines = ["# GPU check", ""]
    tests = report["gpu_tests"]
    lines.append(
        f"GPU tests: {tests['passed']} passed, {tests['failures'] + tests['errors']} failed, {tests['skipped']} skipped"
        if tests
        else "GPU tests: no result (see gpu_tests.log)"
    )
    if report["deepwave_build_seconds"] is not None:
        lines.append(f"deepwave built from its sdist for this GPU in {report['deepwave_build_seconds']:.0f} s")
    lines += ["", markdown_table(benchmark) if benchmark else "Benchmark: no result (see benchmark.out)", ""]
    if report["train"] and report["train"]["best"]:
        best = report["train"]["best"]
        lines.append(
            f"train.py end to end: {report['train']['status']}, best {format_metrics(best, (('mae',), ('ssim',)), ', ')}, "
            f"{report['train']['train_samples_per_s']:.0f} samples/s"
        )
    else:
        lines.append("train.py end to end: no result (see train.out)")
    write_json(folder / "gpu_report.json", report)
    (folder / "gpu_report.md").write_text("\n".join(lines) + "\n")
    return report
