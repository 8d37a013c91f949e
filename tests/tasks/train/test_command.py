"""The train command, run as a user runs it (subprocesses, real Hydra): its run directory, its one-line refusals
and errors, real OpenFWI downloads, Ctrl-C. (The other commands: one file per task beside this folder.)"""

import json
import shutil

import pytest
import torch
import yaml

from fwilab.data.synthetic import GENERATOR_VERSION
from helpers import ROOT, TINY_MODEL, files_in, run_script, tiny_data_args, wandb_records
from helpers.openfwi_download import write_download, write_openfwi_split_files

pytestmark = pytest.mark.slow


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


GAN_LOSSES = {"velocity_loss", "critic_loss", "wasserstein_distance", "gradient_penalty", "generator_loss"}


@pytest.mark.parametrize("objective", ["supervised", "velocitygan"])
def test_debug_smoke_runs_the_whole_pipeline_in_seconds(tmp_path, objective):
    result = run_script(
        "train.py",
        "debug=smoke",
        f"objective={objective}",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"FWILAB_DATA_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["total_steps"] == 4 and metrics["train_samples"] == 16
    assert list((tmp_path / "run" / "activations" / "step_000004").glob("*_pca_rgb.png"))
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    logged = set().union(*(r["history"]["item"] for r in wandb_records(tmp_path / "run") if r["type"] == "history"))
    if objective == "velocitygan":  # each loss under its own name, in metrics.json and W&B
        assert set(metrics["train_losses"]) >= GAN_LOSSES and {f"train/{name}" for name in GAN_LOSSES} <= logged
        assert set(torch.load(tmp_path / "run" / "checkpoints" / "last.pt")) >= {"critic", "critic_optimizer"}
    else:
        assert metrics["train_losses"] == {} and "train/loss" in logged


def test_wrong_group_value_lists_valid_choices():
    result = run_script("train.py", "optimizer=sgdd")
    assert result.returncode != 0
    assert "sgdd" in result.stderr and all(name in result.stderr for name in ("adam", "adamw", "lamb"))


def test_help_and_cfg_job():
    help_text = run_script("train.py", "--help")
    assert help_text.returncode == 0 and "optimizer: adam, adamw, lamb" in help_text.stdout
    job = run_script("train.py", "--cfg", "job", "optimizer=lamb", "lr=1e-4")
    assert job.returncode == 0 and "fwilab.training.optimizers.Lamb" in job.stdout and "lr: 0.0001" in job.stdout


def test_unknown_key_is_refused():
    result = run_script("train.py", "trainer.epocs=3")
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
    result = run_script(
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
    result = run_script("train.py", *data, *TINY_MODEL, *args, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_openfwis_split_files_through_the_cli(tmp_path):
    root = write_download(tmp_path, "curvefault_b")
    splits = write_openfwi_split_files(root, "curvefault_b", tmp_path)
    result = run_script(
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
    wrong = run_script(
        "train.py", "data=curvevel_a", f"data.root={root}", *TINY_MODEL, f"hydra.run.dir={tmp_path / 'wrong'}"
    )
    assert wrong.returncode == 1 and wrong.stderr.strip().endswith(
        "found seis{6,7,8}_1_*.npy files: this looks like a Fault-family B (FlatFault-B or CurveFault-B) folder"
    )


def test_resume_with_changed_settings_is_one_line(tiny_dataset, tmp_path):
    common = [*tiny_data_args(tiny_dataset), *TINY_MODEL, "logger=none", "diagnostics=off", f"hydra.run.dir={tmp_path}"]
    assert run_script("train.py", *common, "trainer.max_steps=1").returncode == 0
    for change, message in [
        ("seed=1", "seed is 0 there and 1 now"),
        ("data.val_samples=4", "data.val is '8 samples of 1 files, sha256 "),
    ]:
        result = run_script("train.py", *common, "trainer.max_steps=1", change)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(
            f"error: cannot resume from {tmp_path / 'checkpoints' / 'step_00000001.pt'}: {message}"
        )


def test_a_resume_into_another_experiment_is_refused_before_any_file_of_the_run_changes(tiny_dataset, tmp_path):
    """The optimizer, its settings, the schedule and the loss are the run's: a resume with another one is refused in
    one line naming both values, and not one byte of the run changes (Hydra's record and the log included)."""
    common = [*tiny_data_args(tiny_dataset), *TINY_MODEL, "logger=none", "diagnostics=off", "trainer.max_steps=2"]
    first = run_script("train.py", *common, f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    before = files_in(tmp_path)
    assert yaml.safe_load(before[".hydra/overrides.yaml"]) == common  # as Hydra records them (its own: hydra.yaml)
    assert yaml.safe_load(before[".hydra/config.yaml"])["optimizer"]["lr"] == "${lr}"  # unresolved, as Hydra's
    assert ".hydra/hydra.yaml" in before and "resuming from" not in before["train.log"].decode()
    for change, message in [
        ("lr=0.01", "optimizer.lr is 0.001 there and 0.01 now"),
        ("optimizer=adam", "optimizer._target_ is 'torch.optim.AdamW' there and 'torch.optim.Adam' now"),
        ("scheduler.warmup_steps=7", "scheduler.warmup_steps is 50 there and 7 now"),
        ("loss.lambda_g1v=2", "loss.lambda_g1v is 1.0 there and 2 now"),
        ("seed=1", "seed is 0 there and 1 now"),
    ]:
        result = run_script("train.py", *common, change, f"hydra.run.dir={tmp_path}")
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        step = tmp_path / "checkpoints" / "step_00000002.pt"
        assert result.stderr.startswith(f"error: cannot resume from {step}: {message}"), result.stderr
        assert files_in(tmp_path) == before, change
    again = run_script("train.py", *common, f"hydra.run.dir={tmp_path}")  # the same command resumes (at its end)
    assert again.returncode == 0, again.stderr
    assert "resuming from" in (tmp_path / "train.log").read_text()  # logged before the start, written at it


def test_a_run_refused_before_it_starts_leaves_no_directory(tmp_path):
    """Settings that would train backwards are refused in one line, and the run directory Hydra made goes too;
    a folder that existed before stays."""
    env = {"FWILAB_DATA_DIR": str(tmp_path / "cache")}
    refused = run_script("train.py", "trainer.grad_clip_norm=-1", cwd=tmp_path, env=env)  # outputs/train/<date>/<time>
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr == "error: trainer.grad_clip_norm=-1 must be a positive number (null: no clipping)\n"
    assert list(tmp_path.iterdir()) == []  # no outputs/, and no data generated
    mine = tmp_path / "mine"
    mine.mkdir()
    refused = run_script("train.py", "loss.lambda_g1v=-1", f"hydra.run.dir={mine / 'run'}", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and refused.stderr == "error: loss.lambda_g1v=-1 must not be negative\n"
    assert mine.is_dir() and list(mine.iterdir()) == []
    refused = run_script("train.py", "scheduler.warmup_steps=-5", f"hydra.run.dir={mine}", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "error: scheduler.warmup_steps=-5" in refused.stderr
    assert mine.is_dir()


def test_os_errors_are_one_line_naming_the_path_and_the_cause(tiny_dataset, tmp_path):
    common = [*TINY_MODEL, "logger=none", "diagnostics=off", "trainer.max_steps=2"]
    (tmp_path / "file").write_text("")
    where = tmp_path / "file" / "run"  # a file where the run directory should be
    result = run_script("train.py", *tiny_data_args(tiny_dataset), *common, f"hydra.run.dir={where}")
    assert result.returncode == 1 and result.stderr == f"error: {where}: Not a directory\n", result.stderr
    run_dir = tmp_path / "run"
    (run_dir / "metrics.json").mkdir(parents=True)  # a directory where a file should be, found mid-run
    result = run_script("train.py", *tiny_data_args(tiny_dataset), *common, f"hydra.run.dir={run_dir}")
    assert result.returncode == 1 and result.stderr == f"error: {run_dir / 'metrics.json'}: Is a directory\n"
    logged = f"[ERROR] - {run_dir / 'metrics.json'}: Is a directory"  # the error line, in the log file only
    assert logged not in result.stdout and logged in (run_dir / "train.log").read_text()
    data = tmp_path / "data"  # the tiny set, with one file that even root cannot read (EIO)
    shutil.copytree(tiny_dataset, data)
    (data / "data" / "data2.npy").unlink()
    (data / "data" / "data2.npy").symlink_to("/proc/self/mem")
    result = run_script("train.py", *tiny_data_args(data), *common, f"hydra.run.dir={tmp_path / 'eio'}")
    assert result.returncode == 1 and result.stderr == f"error: {data / 'data' / 'data2.npy'}: Input/output error\n"
    assert not (tmp_path / "eio").exists()  # refused before it started


def test_ctrl_c_ends_the_run_interrupted_with_exit_status_130_and_it_resumes(tiny_dataset, tmp_path):
    common = [
        *tiny_data_args(tiny_dataset), *TINY_MODEL, "logger=none", "diagnostics=off", "trainer.max_steps=4",
        "loss._target_=helpers.faults.TroubleAtCall", "+loss.call=2", "+loss.presses=1",
        f"+loss.marker={tmp_path / 'pressed'}",  # once: the resumed run keeps its loss, as a resume must
    ]  # fmt: skip
    faults = {"PYTHONPATH": str(ROOT / "tests")}
    pressed = run_script("train.py", *common, f"hydra.run.dir={tmp_path}", env=faults)
    assert pressed.returncode == 130 and pressed.stderr == "", pressed.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "interrupted"
    assert f"stopped by SIGINT at step 2; run again with hydra.run.dir={tmp_path} to resume" in pressed.stdout
    resumed = run_script("train.py", *common, f"hydra.run.dir={tmp_path}", env=faults)
    assert resumed.returncode == 0 and json.loads((tmp_path / "metrics.json").read_text())["status"] == "completed"


def test_debug_smoke_trains_on_a_real_download_from_the_command_line(tmp_path):
    root = write_download(tmp_path, "curvefault_a", samples_per_file=2)
    before = sorted(p.name for p in root.iterdir())
    result = run_script(
        "train.py",
        "debug=smoke",
        "logger=none",
        "data=curvefault_a",
        f"data.root={root}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["train_samples"] == 16
    assert sorted(p.name for p in root.iterdir()) == before
