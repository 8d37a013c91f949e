"""The command-line entry points, run as a user runs them (subprocesses, real Hydra)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from fwilab.data.synthetic import GENERATOR_VERSION
from fwilab.experiments.dashboard import load_specification
from openfwi_download import write_download, write_openfwi_split_files
from test_wandb_logging import _records

pytestmark = pytest.mark.slow
TINY_MODEL = ["model=reconstruction", "model.base_channels=8", "trainer.batch_size=4", "trainer.device=cpu"]


def run(script: str, *args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def tiny_data_args(root: Path) -> list[str]:
    return ["data=curvefault_a", f"data.root={root}", "data.train_split=train.txt", "data.val_split=val.txt"]


@pytest.fixture(scope="module")
def default_style_run(tmp_path_factory):
    """train.py on the embedded default data (generated on first use, here shrunk), with LAMB."""
    tmp = tmp_path_factory.mktemp("cli")
    result = run(
        "train.py",
        "optimizer=lamb",
        "lr=1e-4",
        *TINY_MODEL,
        "trainer.max_steps=3",
        "data.synthetic.n_train=8",
        "data.synthetic.n_val=4",
        "data.synthetic.samples_per_file=4",
        f"hydra.run.dir={tmp / 'run'}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    return tmp, result


def test_train_generates_default_data_and_writes_a_run(default_style_run):
    tmp, result = default_style_run
    assert result.returncode == 0, result.stderr
    assert "generated 12 curvefault_a models in" in result.stdout + result.stderr  # the rate, inside train.py
    data_dirs = [d for d in (tmp / "cache" / "synthetic").iterdir() if d.is_dir()]
    assert [d.name for d in data_dirs] == [f"curvefault_a-n8-4-seed0-g{GENERATOR_VERSION}"]
    metadata = json.loads((data_dirs[0] / "metadata.json").read_text())
    assert metadata["n_train"] == 8
    metrics = json.loads((tmp / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and set(metrics["best"]) >= {"mae", "rmse", "ssim"}
    assert "Lamb" in (tmp / "run" / "config.yaml").read_text() and (tmp / "run" / "checkpoints" / "best.pt").exists()
    assert (tmp / "run" / "train.log").read_text().count("val MAE") == 2  # end of epoch 0 (2 steps) and the last step


def test_debug_smoke_runs_the_whole_pipeline_in_seconds(tmp_path):
    result = run(
        "train.py", "debug=smoke", f"hydra.run.dir={tmp_path / 'run'}", env={"FWILAB_DATA_DIR": str(tmp_path / "cache")}
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["total_steps"] == 4 and metrics["train_samples"] == 16
    assert list((tmp_path / "run" / "activations" / "step_000004").glob("*_pca_rgb.png"))
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


def test_evaluate_reports_metrics_on_a_split(default_style_run, tiny_dataset):
    tmp, _ = default_style_run
    checkpoint = tmp / "run" / "checkpoints" / "best.pt"
    own = run(
        "evaluate.py",
        f"checkpoint={checkpoint}",
        f"hydra.run.dir={tmp / 'eval'}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    assert own.returncode == 0, own.stderr
    assert "MAE" in own.stdout and json.loads((tmp / "eval" / "metrics.json").read_text())["samples"] == 4
    other = run(
        "evaluate.py",
        f"checkpoint={checkpoint}",
        *tiny_data_args(tiny_dataset),
        "split=train",
        f"hydra.run.dir={tmp / 'eval2'}",
    )
    assert other.returncode == 0, other.stderr
    assert json.loads((tmp / "eval2" / "metrics.json").read_text())["samples"] == 16


def test_wrong_group_value_lists_valid_choices():
    result = run("train.py", "optimizer=sgdd")
    assert result.returncode != 0
    assert "sgdd" in result.stderr and all(name in result.stderr for name in ("adam", "adamw", "lamb"))


def test_help_and_cfg_job():
    help_text = run("train.py", "--help")
    assert help_text.returncode == 0 and "optimizer: adam, adamw, lamb" in help_text.stdout
    job = run("train.py", "--cfg", "job", "optimizer=lamb", "lr=1e-4")
    assert job.returncode == 0 and "fwilab.training.optimizers.Lamb" in job.stdout and "lr: 0.0001" in job.stdout


def test_unknown_key_is_refused():
    result = run("train.py", "trainer.epocs=3")
    assert result.returncode != 0 and "trainer.epocs" in result.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.batch_size=abc", "error: trainer.batch_size='abc' must be a whole number of at least 1"),
        ("model.base_channels=0", "error: model.base_channels=0 must be a whole number of at least 1"),
        ("trainer.val_every_steps=0", "error: trainer.val_every_steps=0 must be a whole number of at least 1"),
        ("trainer.precision=fp8", "error: trainer.precision='fp8' is not one of auto, fp32, bf16, fp16"),
    ],
)
def test_wrong_values_are_refused_before_data_is_generated(override, message, tmp_path):
    result = run(
        "train.py",
        "model=reconstruction",
        override,
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"FWILAB_DATA_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 1 and result.stderr.strip() == message, result.stderr
    assert not (tmp_path / "cache").exists()  # the default data set was not generated first


@pytest.mark.parametrize(
    "args, message",
    [
        (["lr=-1"], "error: lr=-1 must be a positive number"),
        (["data=curvefault_a"], "error: Missing mandatory value: data.root"),
        (
            ["data=curvefault_a", "data.root=/nonexistent/openfwi"],
            "error: data.root=/nonexistent/openfwi does not exist; fwilab never creates a real data folder",
        ),
    ],
)
def test_user_errors_are_one_line(tiny_dataset, args, message, tmp_path):
    data = [] if args[0].startswith("data=") else tiny_data_args(tiny_dataset)
    result = run("train.py", *data, *TINY_MODEL, *args, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("family, train_samples", [("curvefault_a", 96), ("flatvel_a", 48), ("style_b", 120)])
def test_train_and_evaluate_on_an_official_download(tmp_path, family, train_samples):
    root = write_download(tmp_path, family)
    data = [f"data={family}", f"data.root={root}"]
    trained = run(
        "train.py",
        *data,
        *TINY_MODEL,
        "trainer.max_steps=2",
        "logger=none",
        "diagnostics=off",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert trained.returncode == 0, trained.stderr
    assert f"{train_samples} train / " in (tmp_path / "run" / "train.log").read_text()
    scored = run(
        "evaluate.py",
        f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'best.pt'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
    )
    assert scored.returncode == 0, scored.stderr
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert result["mae"] == pytest.approx(
        json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]["mae"], abs=1e-6
    )


def test_openfwis_split_files_through_the_cli(tmp_path):
    root = write_download(tmp_path, "curvefault_b")
    splits = write_openfwi_split_files(root, "curvefault_b", tmp_path)
    result = run(
        "train.py",
        "data=curvefault_b",
        f"data.root={root}",
        f"data.train_split={splits['train']}",
        f"data.val_split={splits['val']}",
        *TINY_MODEL,
        "trainer.max_steps=1",
        "logger=none",
        "diagnostics=off",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    assert (
        "lists 192 paths that do not exist (e.g. /projects/piml_inversion/FWIOpenData/CurveFault_B/seis6_1_0.npy)"
        in log
    )
    wrong = run("train.py", "data=curvevel_a", f"data.root={root}", *TINY_MODEL, f"hydra.run.dir={tmp_path / 'wrong'}")
    assert wrong.returncode == 1 and wrong.stderr.strip().endswith(
        "found seis{6,7,8}_1_*.npy files: this looks like a Fault-family B (FlatFault-B or CurveFault-B) folder"
    )


def test_resume_with_changed_settings_is_one_line(tiny_dataset, tmp_path):
    common = [*tiny_data_args(tiny_dataset), *TINY_MODEL, "logger=none", "diagnostics=off", f"hydra.run.dir={tmp_path}"]
    assert run("train.py", *common, "trainer.max_steps=1").returncode == 0
    for change, message in [
        ("seed=1", "seed is 0 there and 1 now"),
        ("data.val_samples=4", "data.val is '8 samples of 1 files, sha256 "),
    ]:
        result = run("train.py", *common, "trainer.max_steps=1", change)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(
            f"error: cannot resume from {tmp_path / 'checkpoints' / 'step_00000001.pt'}: {message}"
        )


def test_evaluate_with_a_damaged_checkpoint_is_one_line(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 10)
    result = run("evaluate.py", f"checkpoint={tmp_path / 'bad.pt'}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.returncode == 1 and result.stderr.strip().startswith("error: cannot read checkpoint")


def test_generate_data_cli_with_preview(tmp_path):
    out = tmp_path / "flat"
    result = run(
        "generate_data.py",
        "family=flatvel_a",
        "n_train=3",
        "n_val=2",
        f"out={out}",
        "preview=true",
        "preview_samples=2",
        "report=true",
        f"hydra.run.dir={tmp_path / 'log'}",
    )
    assert result.returncode == 0, result.stderr
    assert (out / "preview.png").stat().st_size > 10_000 and (out / "report.png").stat().st_size > 50_000
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["family"] == "flatvel_a" and (metadata["data_min"], metadata["data_max"]) == (-26.95, 52.77)
    log = result.stdout + result.stderr
    assert "generated 5 flatvel_a models in" in log and "models/s on cpu" in log
    assert "published range -26.95 .. 52.77" in log and "monotonic_share" in log
    refused = run(
        "generate_data.py",
        "family=saltdome",
        "n_train=3",
        "n_val=2",
        f"out={tmp_path / 'x'}",
        f"hydra.run.dir={tmp_path / 'log2'}",
    )
    assert refused.returncode == 1 and "choose one of" in refused.stderr


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
    result = run(
        "benchmark.py", *common, "benchmark.generation.n_models=0", f"hydra.run.dir={tmp_path / 'ok'}", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "generation" not in json.loads((tmp_path / "ok" / "benchmark.json").read_text())
    refused = run(
        "benchmark.py", *common, "benchmark.generation.n_models=2", f"hydra.run.dir={tmp_path / 'gen'}", env=env
    )
    assert refused.returncode == 1 and "needs deepwave" in refused.stderr and "pip install deepwave" in refused.stderr
    assert "parameters) on cpu" in (tmp_path / "ok" / "benchmark.log").read_text()
    assert not (tmp_path / "gen").exists()  # refused before any training: not even its run directory is left


def test_benchmark_defaults_follow_the_device(tmp_path):
    """What a newcomer types on a CPU: no sizes given, so CPU sizes, no compiled configuration, minutes not hours."""
    result = run(
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
    result = run(
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


def test_render_activations_for_a_chosen_sample(default_style_run, tiny_dataset):
    tmp, _ = default_style_run
    checkpoint = tmp / "run" / "checkpoints" / "best.pt"
    result = run(
        "render_activations.py",
        f"checkpoint={checkpoint}",
        *tiny_data_args(tiny_dataset),
        "split=train",
        "sample=5",
        f"hydra.run.dir={tmp / 'render'}",
    )
    assert result.returncode == 0, result.stderr
    [folder] = (tmp / "render" / "activations").glob("step_*")
    names = sorted(p.name for p in folder.iterdir())
    assert "enc.0_montage.png" in names and "enc.0_pca_rgb.png" in names and "velocity_sample0.png" in names
    assert "enc.7_montage.png" in names and "enc.7_pca_rgb.png" not in names  # 1 x 1 bottleneck: montage only
    numbers = json.loads((folder / "statistics.json").read_text())["scalars"]
    assert (
        1 <= numbers["activations/enc.0/effective_rank"] <= 8 and 0 <= numbers["activations/dec.0/negative_share"] <= 1
    )
    outside = run(
        "render_activations.py",
        f"checkpoint={checkpoint}",
        "sample=99",
        f"hydra.run.dir={tmp / 'render2'}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    assert (
        outside.returncode == 1
        and outside.stderr.strip() == "error: sample=99 is outside val, which holds samples 0..3"
    )
    train_mode = run(
        "render_activations.py",
        f"checkpoint={checkpoint}",
        "diagnostics.mode=train",
        f"hydra.run.dir={tmp / 'render3'}",
    )
    assert train_mode.returncode == 1 and train_mode.stderr.startswith(
        "error: diagnostics.mode=train needs at least 2 probe samples, this probe holds 1"
    )


def test_compare_representations_writes_a_heat_map_and_a_wandb_table(default_style_run):
    tmp, _ = default_style_run
    run_dir, out = tmp / "run", tmp / "cka"
    result = run(
        "compare_representations.py",
        f"a={run_dir}",
        f"b={run_dir / 'checkpoints' / 'best.pt'}",
        "samples=4",
        f"hydra.run.dir={out}",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "cka.json").read_text())
    assert report["samples"] == 4 and report["rows"] == report["columns"] and np.allclose(np.diag(report["cka"]), 1.0)
    assert Image.open(out / "cka.png").size[0] > 500
    records = _records(out)
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert history[0]["cka/table._type"] == "table-file" and history[0]["cka/heat_map._type"] == "image-file"
    assert [r["run"]["job_type"] for r in records if r["type"] == "run"] == ["compare_representations"]
    missing = run("compare_representations.py", f"a={tmp / 'nowhere'}", f"b={run_dir}", f"hydra.run.dir={tmp / 'cka2'}")
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == f"error: {tmp / 'nowhere'}: neither a checkpoint file nor a run directory with checkpoints/best.pt"
    )


def test_multirun_records_each_job_and_survives_failures(tiny_dataset, tmp_path):
    """Three jobs: one fine, one with a user error, one that diverges; all recorded, sweep completes."""
    result = run(
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
    groups = set()
    for wandb_file in tmp_path.glob("*/wandb/offline-run-*/run-*.wandb"):
        inspected = subprocess.run(
            [str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json", str(wandb_file)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        groups |= {
            json.loads(line)["run"].get("run_group")
            for line in inspected.stdout.splitlines()
            if '"type":"run"' in line.replace(" ", "")
        }
    assert len(groups) == 1 and next(iter(groups)).startswith("sweep-")


def test_loss_landscape_writes_plots_and_values(default_style_run):
    tmp, _ = default_style_run
    out = tmp / "landscape"
    result = run(
        "loss_landscape.py",
        f"checkpoint={tmp / 'run' / 'checkpoints' / 'best.pt'}",
        "samples=4",
        "batch_size=2",
        "points_1d=5",
        "points_2d=3",
        "logger=none",
        f"hydra.run.dir={out}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    assert result.returncode == 0, result.stderr
    values = json.loads((out / "landscape.json").read_text())
    assert len(values["loss_1d"]) == 5 and np.array(values["loss_2d"]).shape == (3, 3) and values["samples"] == 4
    assert values["loss_1d"][2] == pytest.approx(values["loss_2d"][1][1])  # both pass through the trained weights
    for name in ("loss_1d.png", "loss_2d.png"):
        assert np.asarray(Image.open(out / name)).shape[0] >= 300


def test_baseline_comparison_experiment_reports_paired_differences(tiny_dataset, tmp_path):
    result = run(
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
    first = run("train.py", *common, "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr
    again = run("train.py", *common, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path / 'b'}")
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="fwilab_optuna_lr", storage=storage)
    assert len(study.trials) == 5 and {t.number for t in study.trials} == set(range(5))
    first_trial = study.trials[0]
    assert first_trial.state == optuna.trial.TrialState.COMPLETE
    assert set(first_trial.params) == {"lr", "weight_decay", "scheduler.warmup_steps", "optimizer"}
    assert first_trial.value == json.loads((tmp_path / "a" / "0" / "metrics.json").read_text())["best"]["mae"]
    assert "best_params" in (tmp_path / "b" / "optimization_results.yaml").read_text()


def test_gpu_check_refuses_without_a_gpu_and_reports_what_ran(tmp_path):
    from fwilab.benchmarking import write_gpu_report

    refused = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert refused.returncode == 1 and refused.stderr.startswith("error: no CUDA GPU visible")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={tmp_path / 'gpu_tests.xml'}",
            str(ROOT / "tests" / "test_gpu.py"),
        ],
        capture_output=True,
        timeout=300,
        cwd=ROOT,
    )
    report = write_gpu_report(tmp_path)
    assert report["gpu_tests"] == {
        "tests": 7,
        "failures": 0,
        "errors": 0,
        "skipped": 7,
        "passed": 0,
    }  # CPU: every GPU test skips
    text = (tmp_path / "gpu_report.md").read_text()
    assert "GPU tests: 0 passed, 0 failed, 7 skipped" in text and "Benchmark: no result" in text


def test_a_run_refused_before_it_starts_leaves_no_directory(tmp_path):
    """Settings that would train backwards are refused in one line, and the run directory Hydra made goes too;
    a folder that existed before stays."""
    env = {"FWILAB_DATA_DIR": str(tmp_path / "cache")}
    refused = run("train.py", "trainer.grad_clip_norm=-1", cwd=tmp_path, env=env)  # outputs/train/<date>/<time>
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr == "error: trainer.grad_clip_norm=-1 must be a positive number (null: no clipping)\n"
    assert list(tmp_path.iterdir()) == []  # no outputs/, and no data generated
    mine = tmp_path / "mine"
    mine.mkdir()
    refused = run("train.py", "loss.lambda_g1v=-1", f"hydra.run.dir={mine / 'run'}", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and refused.stderr == "error: loss.lambda_g1v=-1 must not be negative\n"
    assert mine.is_dir() and list(mine.iterdir()) == []
    refused = run("train.py", "scheduler.warmup_steps=-5", f"hydra.run.dir={mine}", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "error: scheduler.warmup_steps=-5" in refused.stderr
    assert mine.is_dir()


def test_os_errors_are_one_line_naming_the_path_and_the_cause(tiny_dataset, tmp_path):
    common = [*TINY_MODEL, "logger=none", "diagnostics=off", "trainer.max_steps=2"]
    (tmp_path / "file").write_text("")
    where = tmp_path / "file" / "run"  # a file where the run directory should be
    result = run("train.py", *tiny_data_args(tiny_dataset), *common, f"hydra.run.dir={where}")
    assert result.returncode == 1 and result.stderr == f"error: {where}: Not a directory\n", result.stderr
    run_dir = tmp_path / "run"
    (run_dir / "metrics.json").mkdir(parents=True)  # a directory where a file should be, found mid-run
    result = run("train.py", *tiny_data_args(tiny_dataset), *common, f"hydra.run.dir={run_dir}")
    assert result.returncode == 1 and result.stderr == f"error: {run_dir / 'metrics.json'}: Is a directory\n"
    data = tmp_path / "data"  # the tiny set, with one file that even root cannot read (EIO)
    shutil.copytree(tiny_dataset, data)
    (data / "data" / "data2.npy").unlink()
    (data / "data" / "data2.npy").symlink_to("/proc/self/mem")
    result = run("train.py", *tiny_data_args(data), *common, f"hydra.run.dir={tmp_path / 'eio'}")
    assert result.returncode == 1 and result.stderr == f"error: {data / 'data' / 'data2.npy'}: Input/output error\n"
    assert not (tmp_path / "eio").exists()  # refused before it started


def test_ctrl_c_ends_the_run_interrupted_with_exit_status_130_and_it_resumes(tiny_dataset, tmp_path):
    common = [*tiny_data_args(tiny_dataset), *TINY_MODEL, "logger=none", "diagnostics=off", "trainer.max_steps=4"]
    pressed = run(
        "train.py", *common, "loss._target_=test_run_status.TroubleAtCall", "+loss.call=2", "+loss.presses=1",
        f"hydra.run.dir={tmp_path}", env={"PYTHONPATH": str(ROOT / "tests")},
    )  # fmt: skip
    assert pressed.returncode == 130 and pressed.stderr == "", pressed.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "interrupted"
    assert f"stopped by SIGINT at step 2; run again with hydra.run.dir={tmp_path} to resume" in pressed.stdout
    resumed = run("train.py", *common, f"hydra.run.dir={tmp_path}")
    assert resumed.returncode == 0 and json.loads((tmp_path / "metrics.json").read_text())["status"] == "completed"
