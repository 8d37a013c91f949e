"""A tiny real training run: loss goes down, files are written, evaluation agrees, bad settings fail early."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from fwilab.config.tasks import EvaluateSettings, read_settings
from fwilab.errors import ConfigError
from fwilab.tasks.evaluate import evaluate_checkpoint
from fwilab.training.guard import TrainingDiverged
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import task_config, tiny_train_config, train_as_the_command_does


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    cfg = tiny_train_config(tiny_dataset, "trainer.max_steps=24", "trainer.val_every_steps=12", "lr=2e-3")
    return run_dir, train(check_train(cfg), run_dir)


def test_training_lowers_the_loss(trained_run):
    _, record = trained_run
    losses = [loss for _, loss in record["train_loss"]]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3


def test_run_directory_holds_metrics_config_and_checkpoints(trained_run):
    run_dir, record = trained_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["total_steps"] == 24
    assert [entry["step"] for entry in metrics["val_history"]] == [12, 24]
    for key in ("mae", "rmse", "ssim", "mae_ms", "rmse_ms"):
        assert metrics["final"][key] == metrics["val_history"][-1][key]
        assert metrics["best"][key] == min(metrics["val_history"], key=lambda e: e["mae"])[key]
    assert metrics["train_samples_per_s"] > 0 and metrics["wall_time_s"] > 0
    assert (run_dir / "checkpoints" / "last.pt").is_file() and (run_dir / "checkpoints" / "best.pt").is_file()
    resolved = OmegaConf.load(run_dir / "config.yaml")
    assert resolved.optimizer.lr == 2e-3  # interpolation resolved


def test_checkpoints_hold_each_part_under_its_name_beside_the_runs_facts(trained_run):
    """The files' keys: each part's name (``model`` the weights, as in every file fwilab wrote, so a plain
    ``torch.load(...)["model"]`` reads old and new alike) and the run's facts; the pre-manager layout's flat meter keys
    (running_loss, running_steps) are now the part ``meter`` (older files still read: test_checkpoint_manager.py)."""
    run_dir, _ = trained_run
    assert set(torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)) == {
        *("model", "optimizer", "scheduler", "scaler", "meter", "record", "rng"),
        *("step", "epoch", "fingerprint", "config", "normalizer"),
    }
    weights = torch.load(run_dir / "checkpoints" / "best_weights.pt", weights_only=True)
    assert set(weights) == {"model", "config", "normalizer", "step", "fingerprint"}


def test_each_step_logs_validates_checkpoints_and_snapshots_on_its_own_schedule(tiny_dataset, tmp_path):
    """Logs and checkpoints every 2 steps, validates every 3 (with a checkpoint and a snapshot), snapshots every 5,
    and does all of it at the last step."""
    overrides = ("trainer.max_steps=7", "trainer.val_every_steps=3", "trainer.checkpoint_every_steps=2")
    settings = ("trainer.keep_checkpoints=10", "diagnostics=default", "diagnostics.every_n_steps=5", "logger=none")
    record = train(check_train(tiny_train_config(tiny_dataset, *overrides, *settings)), tmp_path)
    assert [step for step, _ in record["train_loss"]] == [2, 4, 6, 7]
    assert [entry["step"] for entry in record["val_history"]] == [3, 6, 7]
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").glob("step_*.pt"))
    assert checkpoints == [f"step_{step:08d}.pt" for step in (2, 3, 4, 6, 7)]
    snapshots = sorted(path.name for path in (tmp_path / "activations").glob("step_*"))
    assert snapshots == [f"step_{step:06d}" for step in (3, 5, 6, 7)]


def test_evaluate_reproduces_the_final_validation_metrics(trained_run, tmp_path):
    run_dir, record = trained_run
    result = evaluate_checkpoint(
        read_settings(task_config("evaluate", run_dir / "checkpoints" / "last.pt", batch_size=3), EvaluateSettings),
        tmp_path,
    )
    for key in ("mae", "mse", "rmse", "ssim"):
        assert result[key] == pytest.approx(record["final"][key], rel=1e-5)
    assert result["samples"] == 8 and json.loads((tmp_path / "metrics.json").read_text())["mae"] == result["mae"]


def test_reevaluating_a_subset_run_reproduces_its_best_metrics(tiny_dataset, tmp_path, caplog):
    """A run with another seed on subsets: evaluate.py's defaults score the same samples with the same constants."""
    record = train(
        check_train(
            tiny_train_config(
                tiny_dataset,
                "seed=3",
                "data.train_samples=12",
                "data.val_samples=5",
                "trainer.max_steps=6",
                "trainer.val_every_steps=3",
                "logger=none",
            )
        ),
        tmp_path / "run",
    )
    cfg = task_config("evaluate", tmp_path / "run" / "checkpoints" / "best.pt")
    with caplog.at_level("INFO"):
        result = evaluate_checkpoint(read_settings(cfg, EvaluateSettings), tmp_path / "eval")
    assert result["samples"] == 5 and result["step"] == record["best"]["step"]
    for key in ("mae", "mse", "rmse", "ssim", "mae_ms"):
        assert result[key] == pytest.approx(record["best"][key], abs=1e-6)
    assert "normalizing with the constants the model was trained with (checkpoint)" in caplog.text


def test_subsets_follow_subset_seed_not_the_training_seed(tiny_dataset):
    from fwilab.config.groups import read_data
    from fwilab.data.build import build_data

    def val_indices(*overrides):
        return build_data(
            read_data(tiny_train_config(tiny_dataset, "data.val_samples=4", *overrides).data)
        ).val.indices.tolist()

    assert val_indices("seed=0") == val_indices("seed=1") == val_indices("seed=2")
    assert val_indices("data.subset_seed=1") != val_indices("data.subset_seed=0")


def test_another_data_set_is_scored_with_the_training_normalizer_unless_asked(
    trained_run, tiny_dataset, tmp_path, caplog
):
    run_dir, _ = trained_run
    data = dict(tiny_train_config(tiny_dataset).data, data_min=-20.0, data_max=40.0)
    with caplog.at_level("INFO"):
        kept = evaluate_checkpoint(
            read_settings(task_config("evaluate", run_dir / "checkpoints" / "last.pt", data=data), EvaluateSettings),
            tmp_path / "a",
        )
        own = evaluate_checkpoint(
            read_settings(
                task_config("evaluate", run_dir / "checkpoints" / "last.pt", data=data, normalization="data"),
                EvaluateSettings,
            ),
            tmp_path / "b",
        )
    assert "normalizing with the constants the model was trained with" in caplog.text
    assert "normalizing with data=curvefault_a's own constants: Normalizer(data_min=-20.0, data_max=40.0" in caplog.text
    assert kept["mae"] != own["mae"]


def test_best_checkpoint_follows_the_monitored_metric(tiny_dataset, tmp_path):
    overrides = ["trainer.max_steps=8", "trainer.val_every_steps=2", "trainer.monitor=ssim", "lr=3e-3", "logger=none"]
    record = train(check_train(tiny_train_config(tiny_dataset, *overrides, "diagnostics=off")), tmp_path)
    best = max(record["val_history"], key=lambda entry: entry["ssim"])
    assert record["best"]["step"] == best["step"] and record["best"]["ssim"] == best["ssim"]
    assert torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["step"] == best["step"]


def test_same_seed_same_losses(tiny_dataset, tmp_path):
    cfg = tiny_train_config(tiny_dataset, "trainer.max_steps=4", "trainer.precision=fp32")  # compared exactly
    first = train(check_train(cfg), tmp_path / "a")["train_loss"]
    assert train(check_train(cfg), tmp_path / "b")["train_loss"] == first


def test_nan_loss_stops_with_diverged_status(tiny_dataset, tmp_path):
    cfg = tiny_train_config(tiny_dataset, "trainer.max_steps=6", "loss.lambda_g1v=nan")
    with pytest.raises(TrainingDiverged, match=r"loss or gradient became NaN/Inf at step 1 \(lr="):
        train(check_train(cfg), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and "step 1" in metrics["error"]
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("lr=0", "lr=0 must be a positive number"),
        ("lr=-1e-3", "must be a positive number"),
        ("lr=abc", "lr='abc' must be a positive number"),
        ("model.base_channels=0", "model.base_channels=0 must be a whole number of at least 1"),
        ("optimizer.betas=[0.9]", r"optimizer.betas=\[0.9\] must be two numbers in \[0, 1\)"),
        ("logger.backend=tensorboard", "logger.backend='tensorboard' is not 'wandb' or 'none'"),
        ("trainer.monitor=psnr", "trainer.monitor='psnr' is not one of"),
        (
            "diagnostics.types=[] diagnostics.patterns=[nothing.here]",
            "diagnostics: no module of ReconstructionNet matches",
        ),
        (
            "trainer.batch_size=17",
            r"trainer.batch_size=17 x 1 process\(es\) must be at least 2 .* at most the training split.s 16 samples",
        ),
        ("trainer.batch_size=1", "BatchNorm"),
        ("trainer.epochs=0", "trainer.epochs=0"),
        ("trainer.device=tpu", "device='tpu'"),
    ],
)
def test_bad_settings_fail_before_training(tiny_dataset, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        train_as_the_command_does(tiny_train_config(tiny_dataset, *override.split()), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_train_mode_snapshots_of_one_probe_sample_are_refused_before_step_one(tiny_dataset, tmp_path):
    cfg = tiny_train_config(tiny_dataset, "diagnostics.mode=train", "diagnostics.max_samples=1", "logger=none")
    with pytest.raises(
        ConfigError, match="diagnostics.mode=train needs at least 2 probe samples, this probe holds 1: BatchNorm"
    ):
        train(check_train(cfg), tmp_path)
    assert not (tmp_path / "metrics.json").exists()
    two = train(
        check_train(
            tiny_train_config(
                tiny_dataset,
                "diagnostics.mode=train",
                "diagnostics.max_samples=2",
                "diagnostics.every_n_steps=1",
                "trainer.max_steps=2",
                "logger=none",
            )
        ),
        tmp_path / "two",
    )
    assert two["status"] == "completed" and list(
        (tmp_path / "two" / "activations" / "step_000001").glob("*_montage.png")
    )


def test_bad_values_fail_before_any_data_is_generated(tmp_path):
    from omegaconf import open_dict

    from helpers import compose_train

    cfg = compose_train("lr=-1", "logger=none")
    with open_dict(cfg):
        cfg.data.root = str(tmp_path / "never-generated")
    with pytest.raises(ConfigError, match="lr=-1"):
        train_as_the_command_does(cfg, tmp_path / "run")
    assert not (tmp_path / "never-generated").exists()
