"""objective=physics end to end on the tiny generated set: unsupervised training reads no velocity file (absent or
unreadable), semi-supervised reads only its share's, seismic-only sets train and validate on the data misfit, and
what cannot work is refused with one error before step 1. Two steps of batch 4 each: the full 1 s record."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from fwilab.errors import ConfigError, DataError
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import ROOT, TINY_MODEL, run_script, tiny_data_args, tiny_train_config

PHYSICS = ("objective=physics", "trainer.max_steps=2", "trainer.val_every_steps=2", "diagnostics.enabled=false")


def _copy(tiny_dataset, tmp_path):
    root = tmp_path / "set"
    shutil.copytree(tiny_dataset, root)
    return root


def _spoil_training_labels(root, how):
    """Every velocity file of the training split absent, or a directory in its place (opening it raises, whoever
    the user: as root, chmod 000 would not stop a read)."""
    for line in (root / "train.txt").read_text().split("\n"):
        if line.strip():
            velocity = root / line.split("\t")[1]
            velocity.unlink()
            if how == "unreadable":
                velocity.mkdir()


def _seismic_only(root, splits=("train", "val")):
    """The split files list the seismic files alone and the velocity files are gone: a seismic-only set."""
    for split in splits:
        lines = [line.split("\t") for line in (root / f"{split}.txt").read_text().split("\n") if line.strip()]
        for _, velocity in lines:
            (root / velocity).unlink()
        (root / f"{split}.txt").write_text("".join(f"{seismic}\n" for seismic, _ in lines))


@pytest.mark.parametrize("how", ["absent", "unreadable"])
def test_unsupervised_training_reads_no_training_velocity_file(tiny_dataset, tmp_path, how):
    root = _copy(tiny_dataset, tmp_path)
    _spoil_training_labels(root, how)
    record = train(check_train(tiny_train_config(root, *PHYSICS)), tmp_path / "run")
    assert record["status"] == "completed"
    assert len(record["train_losses"]["data"]) == 1 and "velocity" not in record["train_losses"]
    assert record["final"]["mae"] > 0  # the validation split keeps its labels: scored as usual


def test_semi_supervised_training_adds_the_velocity_loss_of_its_labelled_share(tiny_dataset, tmp_path):
    """Half of the 16 training samples labelled: with batches of 8, every step holds some (8 of 16 unlabelled
    cannot fill a batch of 8 ... twice), so the velocity loss is logged beside the data loss."""
    overrides = (*PHYSICS, "objective.labelled_fraction=0.5", "trainer.batch_size=8")
    record = train(check_train(tiny_train_config(tiny_dataset, *overrides)), tmp_path / "run")
    assert record["status"] == "completed"
    losses = record["train_losses"]
    [[_, data]], [[_, velocity]], [[_, total]] = losses["data"], losses["velocity"], record["train_loss"]
    assert velocity > 0 and total == pytest.approx(data + velocity, rel=1e-5)


def test_a_seismic_only_set_trains_and_validates_on_the_data_misfit(tiny_dataset, tmp_path):
    root = _copy(tiny_dataset, tmp_path)
    _seismic_only(root)
    overrides = (*PHYSICS, "trainer.monitor=data_misfit", "physics.samples=2")
    record = train(check_train(tiny_train_config(root, *overrides)), tmp_path / "run")
    assert record["status"] == "completed"
    assert set(record["final"]) == {"step", "data_misfit"} and record["best"]["data_misfit"] > 0


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (("objective=supervised",), ConfigError, "objective=supervised trains on velocity labels.*seismic only"),
        (("objective=velocitygan",), ConfigError, "objective=velocitygan trains on velocity labels"),
        (("objective.labelled_fraction=0.1",), DataError, "has no velocity file, but its labels are asked for"),
        (("trainer.monitor=mae", "physics.samples=2"), ConfigError, "validation split .* seismic only"),
        (("physics.samples=0",), ConfigError, r"trainer.monitor=data_misfit: .* physics.samples > 0"),
    ],
)
def test_what_a_seismic_only_set_cannot_do_is_refused_before_step_one(
    tiny_dataset, tmp_path, overrides, error, message
):
    root = _copy(tiny_dataset, tmp_path)
    _seismic_only(root)
    cfg = tiny_train_config(root, *PHYSICS, "trainer.monitor=data_misfit", "physics.samples=2", *overrides)
    with pytest.raises(error, match=message):
        train(check_train(cfg), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("objective.labelled_fraction=1.5", "objective.labelled_fraction=1.5 must be a number from 0 to 1"),
        ("objective.labelled_fraction=-0.1", "objective.labelled_fraction=-0.1 must be a number from 0 to 1"),
        ("objective.data_weight=-1", "objective.data_weight=-1 must not be negative"),
        ("objective.velocity_weight=-0.5", "objective.velocity_weight=-0.5 must not be negative"),
        ("objective.depth_scaling=-1", "objective.depth_scaling=-1 must not be negative"),
        ("objective.misfit=l3", "objective.misfit='l3' is not one of relative, l1_l2"),
        ("objective.frequencies_hz=[10,5]", "objective.frequencies_hz=.* from low to high"),
    ],
)
def test_physics_settings_out_of_range_are_refused_by_the_settings_check(tiny_dataset, override, message):
    with pytest.raises(ConfigError, match=message):
        check_train(tiny_train_config(tiny_dataset, *PHYSICS, override))


def test_a_velocity_range_the_operator_cannot_step_is_refused_before_step_one(tiny_dataset, tmp_path):
    cfg = tiny_train_config(tiny_dataset, *PHYSICS, "data.vel_max=5000", "data.check=off")
    with pytest.raises(ConfigError, match="velocity range 1500..5000 m/s"):
        train(check_train(cfg), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_debug_smoke_trains_each_physics_use_from_the_command_line(tiny_dataset, tmp_path):
    """The command as a user types it: unsupervised, then semi-supervised (its labelled share's velocity loss)."""
    for name, extra in (("unsupervised", ()), ("semi", ("objective.labelled_fraction=0.5",))):
        run_dir = tmp_path / name
        result = run_script(
            "train.py",
            "debug=smoke",
            "objective=physics",
            *extra,
            *tiny_data_args(tiny_dataset),
            "trainer.max_steps=2",
            "logger=none",
            f"hydra.run.dir={run_dir}",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["status"] == "completed" and metrics["train_losses"]["data"]
        assert ("velocity" in metrics["train_losses"]) == bool(extra)


def _physics_command(data_root, run_dir, *extra: str) -> list[str]:
    """4 steps of objective=physics with every training sample labelled (the data loss and the velocity loss each
    step), a checkpoint after every step, fp32 (the resumed run is compared bit for bit)."""
    return [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        *tiny_data_args(data_root),
        *TINY_MODEL,
        "objective=physics",
        "objective.labelled_fraction=1.0",
        "trainer.precision=fp32",
        "trainer.max_steps=4",
        "trainer.checkpoint_every_steps=1",
        "trainer.val_every_steps=2",
        "trainer.log_every_steps=1",
        "diagnostics.enabled=false",
        "logger=none",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


@pytest.mark.slow
def test_sigkill_then_resume_of_a_physics_run_gives_identical_weights(tiny_dataset, tmp_path):
    """Killed (SIGKILL) while held inside step 3, after step 2's checkpoint; resumed, it ends where an uninterrupted
    run ends, bit for bit: weights, losses (data and velocity) and validations."""
    reference = tmp_path / "reference"
    subprocess.run(_physics_command(tiny_dataset, reference), check=True, capture_output=True, timeout=900)
    victim_dir = tmp_path / "victim"
    held = ("loss._target_=helpers.faults.HeldAt", "+loss.call=3", f"+loss.release={victim_dir / 'release'}")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    victim = subprocess.Popen(
        _physics_command(tiny_dataset, victim_dir, *held), env=env, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 900
    while not (victim_dir / "held").exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (victim_dir / "checkpoints" / "step_00000002.pt").is_file(), victim.poll()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    (victim_dir / "release").touch()
    resumed = subprocess.run(
        _physics_command(tiny_dataset, victim_dir, *held), env=env, capture_output=True, text=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in (victim_dir / "train.log").read_text()
    ours = torch.load(victim_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    theirs = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    metrics, expected = (json.loads((d / "metrics.json").read_text()) for d in (victim_dir, reference))
    for key in ("train_loss", "train_losses", "val_history", "final"):
        assert metrics[key] == expected[key]
