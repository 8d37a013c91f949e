"""The benchmark command: its report on the CPU, its defaults per device, and a machine without deepwave."""

import json
import os

import pytest

from helpers import run_script

pytestmark = pytest.mark.slow


def test_benchmark_runs_where_deepwave_is_missing(tmp_path):
    """GPU machines may lack deepwave: the benchmark makes its own data, and generation says what is missing."""
    shadow = tmp_path / "no_deepwave"
    shadow.mkdir()
    (shadow / "deepwave.py").write_text("raise ImportError('No module named deepwave')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    common = [
        "device=cpu",
        "model=reconstruction",
        "model.base_channels=8",
        "benchmark.batch_size=2",
        "benchmark.steps=1",
        "benchmark.warmup_steps=1",
        "benchmark.samples=4",
        "benchmark.reference_workers=0",
        "benchmark.snapshot_every=1",
        "benchmark.snapshots_per_run=1",
        "~benchmark.configurations.bf16_cl_resident_compile",
    ]
    result = run_script(
        "benchmark.py", *common, "benchmark.generation.n_models=0", f"hydra.run.dir={tmp_path / 'ok'}", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "generation" not in json.loads((tmp_path / "ok" / "benchmark.json").read_text())
    refused = run_script(
        "benchmark.py", *common, "benchmark.generation.n_models=2", f"hydra.run.dir={tmp_path / 'gen'}", env=env
    )
    assert refused.returncode == 1 and "needs deepwave" in refused.stderr and "pip install deepwave" in refused.stderr
    assert "parameters) on cpu" in (tmp_path / "ok" / "benchmark.log").read_text()
    assert not (tmp_path / "gen").exists()  # refused before any training: not even its run directory is left


def test_benchmark_defaults_follow_the_device(tmp_path):
    """What a newcomer types on a CPU: no sizes given, so CPU sizes, no compiled configuration, minutes not hours."""
    result = run_script(
        "benchmark.py",
        "device=cpu",
        "model=reconstruction",
        "model.base_channels=8",
        "benchmark.generation.n_models=0",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert report["settings"] == {
        "batch_size": 8,
        "steps": 10,
        "warmup_steps": 3,
        "samples": 64,
        "reference_workers": 0,
        "snapshot_every": 5,
    }
    assert [row["configuration"] for row in report["rows"]][1:] == ["fp32_files", "fp32_resident", "bf16_cl_resident"]
    assert (
        "bf16_cl_resident_compile left out: torch.compile is measured on GPUs only"
        in (tmp_path / "benchmark.log").read_text()
    )


def test_benchmark_runs_every_configuration_on_cpu(tmp_path):
    result = run_script(
        "benchmark.py",
        "device=cpu",
        "model=reconstruction",
        "model.base_channels=8",
        "benchmark.batch_size=2",
        "benchmark.steps=2",
        "benchmark.warmup_steps=1",
        "benchmark.samples=8",
        "benchmark.reference_workers=0",
        "benchmark.snapshot_every=1",
        "~benchmark.configurations.bf16_cl_resident_compile",
        "benchmark.generation.n_models=2",
        "benchmark.generation.batch_size=2",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "benchmark.json").read_text())
    names = [row["configuration"] for row in report["rows"]]
    assert names == ["reference (OpenFWI-style)", "fp32_files", "fp32_resident", "bf16_cl_resident"]
    assert all(row["samples_per_s"] > 0 and row["achieved_tflops"] > 0 for row in report["rows"])
    snapshot = report["snapshot_overhead"]
    assert (snapshot["every_n_steps"], snapshot["snapshots_taken"]) == (1, 4)  # 1 warm-up + 3 x 1 measured steps
    assert snapshot["blocked_seconds_per_snapshot"] > 0 and report["generation"]["models_per_s"] > 0
    assert "| fp32_resident |" in (tmp_path / "benchmark.md").read_text()
    assert [
        p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")
    ] == []  # scratch data removed
