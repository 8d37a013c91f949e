"""Data-domain scoring in evaluate.py and the refine task, on a tiny trained model (real deepwave, real files)."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fwilab.config.tasks import EvaluateSettings, RefineTaskSettings, read_settings
from fwilab.data.openfwi import read_velocity_file
from fwilab.errors import ConfigError
from fwilab.tasks.evaluate import evaluate_checkpoint
from fwilab.tasks.refine import run_refine
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import ROOT, evaluate_config, refine_config, task_config, tiny_train_config, wandb_records


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    overrides = ("trainer.max_steps=4", "logger=none", "diagnostics=off", "physics.samples=2")
    train(check_train(tiny_train_config(tiny_dataset, *overrides)), run_dir)
    return run_dir / "checkpoints" / "best.pt"


def test_evaluate_reports_the_data_misfit_of_predictions_and_the_floor(checkpoint, tmp_path):
    result = evaluate_checkpoint(
        read_settings(evaluate_config(checkpoint, samples=2, batch_size=2), EvaluateSettings), tmp_path
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["physics_samples"] == 2 and len(saved["data_misfit_per_sample"]) == 2
    assert saved["data_misfit_truth_mean"] < 1e-5  # fwilab's own data: the operator's floor
    assert result["data_misfit_median"] > 0.05  # a 4-step model does not explain the waves
    assert saved["data_misfit_mean"] == pytest.approx(np.mean(saved["data_misfit_per_sample"]))
    pictures = sorted((tmp_path / "data_fit").glob("*.png"))
    assert [p.name for p in pictures] == ["sample0_shot2.png", "sample1_shot2.png"]
    assert Image.open(pictures[0]).size == (3 * (140 + 72), 316)


def test_evaluate_is_a_wandb_run_with_its_scores_and_data_fit_pictures(checkpoint, tmp_path):
    cfg = task_config("evaluate", checkpoint, logger="wandb", physics={"samples": 1})
    result = evaluate_checkpoint(read_settings(cfg, EvaluateSettings), tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "completed"
    records = wandb_records(tmp_path)
    assert [r["run"]["job_type"] for r in records if r["type"] == "run"] == ["evaluate"]
    summary = {}
    for record in records:
        if record["type"] == "summary":
            summary.update(record["summary"]["update"])
    assert summary["data_misfit_mean"] == pytest.approx(result["data_misfit_mean"])
    assert summary["mae"] == pytest.approx(result["mae"]) and summary["status"] == "completed"
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert any("data_fit/sample0_shot2.path" in item for item in history)


def test_a_validation_with_physics_reports_the_misfit_evaluate_measures_on_its_checkpoint(checkpoint, tmp_path):
    """train.yaml's physics.samples: each validation's data misfit of its first maps, the same number evaluate.py
    gets for the best checkpoint on the same samples."""
    record = json.loads((checkpoint.parent.parent / "metrics.json").read_text())
    assert all(0 < validation["data_misfit"] < 10 for validation in record["val_history"])
    result = evaluate_checkpoint(
        read_settings(evaluate_config(checkpoint, samples=2, batch_size=2), EvaluateSettings), tmp_path
    )
    assert result["data_misfit_mean"] == pytest.approx(record["best"]["data_misfit"], rel=1e-4)


def test_evaluate_without_physics_writes_no_misfit(checkpoint, tmp_path):
    assert "data_misfit_mean" not in evaluate_checkpoint(
        read_settings(evaluate_config(checkpoint), EvaluateSettings), tmp_path
    )


def test_a_bad_physics_value_is_refused_before_the_checkpoint_is_read(tmp_path):
    with pytest.raises(ConfigError, match=r"physics.samples=-1 must be a whole number of at least 0"):
        read_settings(evaluate_config(tmp_path / "missing.pt", samples=-1), EvaluateSettings)


def test_refine_writes_maps_table_curves_and_pictures(checkpoint, tmp_path):
    result = run_refine(
        read_settings(refine_config(checkpoint, samples=2, iterations=2, batch_size=1, pictures=1), RefineTaskSettings),
        tmp_path,
    )
    for name in ("network", "refined_network", "refined_1d"):
        maps = read_velocity_file(tmp_path / f"{name}.npy")
        assert maps.shape == (2, 1, 70, 70) and maps.dtype == np.float32
        assert 1500.0 <= maps.min() and maps.max() <= 4500.0
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["status"] == "completed"
    table = {row["model"]: row for row in written["table"]}
    assert list(table) == ["network", "1-D start", "network + FWI", "1-D start + FWI", "truth"]
    assert table["truth"]["data_misfit_mean"] < 1e-5
    curves = result["curves"]["network"]
    assert len(curves["misfit"]) == len(curves["mae"]) == 3
    assert curves["misfit"][0] == pytest.approx(table["network"]["data_misfit_mean"])
    assert curves["mae"][-1] == pytest.approx(table["network + FWI"]["mae"])
    assert result["seconds_per_iteration_per_sample"]["network"] > 0
    assert {p.name for p in (tmp_path / "pictures").iterdir()} == {
        "curves.png",
        "network_sample0.png",
        "1d_sample0.png",
    }


@pytest.mark.parametrize(
    "override, match",
    [
        ({"iterations": 0}, "iterations=0"),
        ({"samples": 0}, "samples=0"),
        ({"frequencies_hz": [10.0, 5.0]}, "low to high"),
        ({"step_ms": "fast"}, "step_ms='fast' must be a positive step"),
        ({"depth_scaling": -1}, "depth_scaling=-1"),
        ({"frequencies_hz": "low"}, "frequencies_hz='low' must be a list"),
        ({"frequencies_hz": [5.0, "x"]}, "low to high"),
        ({"baseline": {"top_ms": "abc"}}, "baseline.top_ms='abc' must be a positive number"),
        ({"steps": 10}, "steps is not a setting of refine.yaml"),
    ],
)
def test_refine_refuses_bad_settings_before_reading_the_checkpoint(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        read_settings(refine_config(tmp_path / "missing.pt", **override), RefineTaskSettings)


def test_refine_refuses_a_velocity_range_the_operator_cannot_step(checkpoint, tiny_dataset, tmp_path):
    data = dict(tiny_train_config(tiny_dataset).data, vel_max=5000.0)
    cfg = refine_config(checkpoint, data=data, normalization="data")
    with pytest.raises(ConfigError, match="steps stably"):
        run_refine(read_settings(cfg, RefineTaskSettings), tmp_path)


@pytest.mark.slow
def test_refine_command_on_the_smoke_data_set(tmp_path):
    env_args = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 600}
    env = {**os.environ, "FWILAB_DATA_DIR": str(tmp_path / "cache")}
    trained = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "debug=smoke", "logger=none", "hydra.run.dir=run"],
        env=env,
        **env_args,
    )
    assert trained.returncode == 0, trained.stderr
    command = [sys.executable, str(ROOT / "scripts" / "refine.py"), "checkpoint=run/checkpoints/best.pt"]
    refused = subprocess.run([*command, "iterations=0", "hydra.run.dir=refused"], env=env, **env_args)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith("error: iterations=0")
    assert not (tmp_path / "refused").exists()
    result = subprocess.run(
        [*command, "samples=1", "iterations=2", "pictures=1", "hydra.run.dir=refine"], env=env, **env_args
    )
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert "s per iteration per sample" in log and "network + FWI" in log
    assert read_velocity_file(tmp_path / "refine" / "refined_network.npy").shape == (1, 1, 70, 70)
    records = wandb_records(tmp_path / "refine")
    assert [r["run"]["job_type"] for r in records if r["type"] == "run"] == ["refine"]


@pytest.mark.slow
def test_ctrl_c_stops_refine_keeping_its_directory_log_and_status_interrupted(checkpoint, tmp_path):
    """A Ctrl-C once the refinement has begun ends it after the iteration under way (the run asks for 100,000):
    exit status 130, the run directory with its log, and metrics.json with status interrupted and the batches done
    (none: the unfinished batch is not kept)."""
    run_dir = tmp_path / "refine"
    command = [sys.executable, str(ROOT / "scripts" / "refine.py"), f"checkpoint={checkpoint}", "logger=none"]
    overrides = ["samples=1", "iterations=100000", "batch_size=1", f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen([*command, *overrides], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # the watch is on from this line
            if "refining samples 0:1" in line:
                process.send_signal(signal.SIGINT)
                break
        stdout, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 130 and stderr == "", stderr
    assert "Ctrl-C: stopping after this iteration" in stdout and "stopped by SIGINT; 0 of 1 batches" in stdout
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["interrupted_by"] == "SIGINT"
    assert record["batches_done"] == 0 and not list((run_dir / "batches").glob("*.pt"))
    assert "stopped by SIGINT" in (run_dir / "refine.log").read_text() and (run_dir / ".hydra").is_dir()
