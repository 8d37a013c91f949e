"""Sweeps as a user runs them: a Hydra multirun and its summary, the baseline comparison with its dashboard, and the
Optuna search's resumable study."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fwilab.experiments.dashboard import load_specification
from helpers import ROOT, TINY_MODEL, run_script, tiny_data_args, wandb_records

pytestmark = pytest.mark.slow


def test_multirun_records_each_job_and_survives_failures(tiny_dataset, tmp_path):
    """Three jobs: one fine, one with a user error, one that diverges; all recorded, sweep completes."""
    result = run_script(
        "train.py",
        "-m",
        *tiny_data_args(tiny_dataset),
        *TINY_MODEL,
        "trainer.max_steps=2",
        "diagnostics=off",
        "lr=1e-3,-1",
        "loss.lambda_g1v=1.0,nan",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    statuses = {}
    for job in sorted(p for p in tmp_path.iterdir() if p.is_dir()):
        swept = [o for o in (job / ".hydra" / "overrides.yaml").read_text().split() if o.startswith(("lr=", "loss."))]
        statuses[",".join(swept)] = json.loads((job / "metrics.json").read_text())["status"]
    assert statuses == {
        "lr=0.001,loss.lambda_g1v=1.0": "completed",
        "lr=0.001,loss.lambda_g1v=nan": "diverged",
        "lr=-1,loss.lambda_g1v=1.0": "failed",
        "lr=-1,loss.lambda_g1v=nan": "failed",
    }
    summary = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "summarize.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert summary.returncode == 0, summary.stderr
    assert (
        summary.stdout.count("| completed |") == 1
        and summary.stdout.count("| failed |") == 2
        and "| diverged |" in summary.stdout
    )
    assert (tmp_path / "summary.csv").is_file() and (tmp_path / "val_mae_curves.png").is_file()
    runs = [
        record["run"]
        for job in tmp_path.glob("*/")
        if list(job.glob("wandb/offline-run-*"))
        for record in wandb_records(job)
        if record["type"] == "run"
    ]
    groups = {run.get("run_group") for run in runs}
    assert len(groups) == 1 and next(iter(groups)).startswith("sweep-")
    names = [run["display_name"] for run in runs]  # by the swept settings only, not the fixed overrides
    assert names and len(set(names)) == len(names) and set(names) <= set(statuses)


def test_baseline_comparison_experiment_reports_paired_differences(tiny_dataset, tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "experiment=baseline_comparison",
        *tiny_data_args(tiny_dataset),
        "model.base_channels=8",
        "seed=0,1",
        "trainer.max_steps=2",
        "trainer.batch_size=4",
        "trainer.device=cpu",
        "diagnostics.every_n_steps=1",
        "diagnostics.types=[fwilab.models.DeconvBlock]",
        "logger.mode=offline",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "comparison.json").read_text())
    assert set(report["models"]) == {"InversionNet", "ReconstructionNet"}
    inversion = report["models"]["InversionNet"]
    assert inversion["seeds"] == [0, 1] and inversion["parameters"] == 1_528_267  # base_channels=8
    assert 0.25 < inversion["forward_gflops_per_sample"] < 0.30  # about 1/16 of the base-32 network's 4.19
    difference = report["differences"]["ReconstructionNet"]["mae"]
    finals = {}
    for job in tmp_path.iterdir():
        if (job / "metrics.json").is_file():
            config = (job / "config.yaml").read_text()
            finals[("Inversion" in config, "seed: 1" in config)] = json.loads((job / "metrics.json").read_text())[
                "final"
            ]["mae"]
    expected = [finals[(False, s)] - finals[(True, s)] for s in (False, True)]
    assert difference["mean_difference"] == pytest.approx(sum(expected) / 2)
    assert difference["p_value"] is not None and 0 <= difference["p_value"] <= 1
    markdown = (tmp_path / "comparison.md").read_text()
    assert "| InversionNet | 2 | 1,528,267 |" in markdown and "| ReconstructionNet | mae |" in markdown
    assert np.asarray(Image.open(tmp_path / "comparison.png")).shape[1] >= 900
    assert list(tmp_path.glob("wandb/offline-run-*"))  # the W&B table run
    names = {
        record["run"]["display_name"]
        for job in tmp_path.glob("*/")
        if list(job.glob("wandb/offline-run-*"))
        for record in wandb_records(job)
        if record["type"] == "run"
    }  # the jobs' runs, named by what the experiment's sweeper varies
    assert len(names) == 4 and {frozenset(o.split("=")[0] for o in name.split(",")) for name in names} == {
        frozenset({"model", "seed"})
    }
    dashboard = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dashboard.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    assert dashboard.returncode == 0, dashboard.stderr
    spec = tmp_path / "wandb_report.json"
    assert dashboard.stdout.strip().startswith(f"W&B is offline: wrote the report's specification to {spec}")
    saved = load_specification(spec)  # what `dashboard.py --push` saves later
    panels = {type(p).__name__: p for block in saved.blocks for p in getattr(block, "panels", [])}
    groups = {r.filters for block in saved.blocks for r in getattr(block, "runsets", [])}
    [group_filter] = groups  # every panel grid shows the sweep's W&B group, as the jobs named it
    assert "Group" in group_filter and f"'sweep-{tmp_path.parent.name}_{tmp_path.name}'" in group_filter
    columns = [column.metric for column in panels["ParallelCoordinatesPlot"].columns]
    assert [c.name for c in columns] == ["model._target_", "seed", "best/mae"]
    assert any(getattr(block, "text", "").startswith(markdown.splitlines()[0]) for block in saved.blocks)
    charts = {
        p.title: p.y for block in saved.blocks for p in getattr(block, "panels", []) if type(p).__name__ == "LinePlot"
    }
    assert {"deconv5_1", "dec.0"} <= {key.name.split("/")[1] for key in charts["effective_rank"]}  # both models' layers
    assert "velocity/sample0" in [
        k for block in saved.blocks for p in getattr(block, "panels", []) for k in getattr(p, "media_keys", [])
    ]


def test_optuna_search_stores_a_resumable_sqlite_study(tiny_dataset, tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    common = [
        "-m",
        "hparams_search=optuna_lr",
        *tiny_data_args(tiny_dataset),
        *TINY_MODEL,
        "trainer.max_steps=2",
        "diagnostics=off",
        "logger=none",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.sampler.n_startup_trials=2",
    ]
    first = run_script("train.py", *common, "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr
    again = run_script("train.py", *common, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path / 'b'}")
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="fwilab_optuna_lr", storage=storage)
    assert len(study.trials) == 5 and {t.number for t in study.trials} == set(range(5))
    first_trial = study.trials[0]
    assert first_trial.state == optuna.trial.TrialState.COMPLETE
    assert set(first_trial.params) == {"lr", "weight_decay", "scheduler.warmup_steps", "optimizer"}
    assert first_trial.value == json.loads((tmp_path / "a" / "0" / "metrics.json").read_text())["best"]["mae"]
    assert "best_params" in (tmp_path / "b" / "optimization_results.yaml").read_text()
