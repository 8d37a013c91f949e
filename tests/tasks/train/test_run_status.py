"""Every run ends with a status (failed, interrupted), settings that corrupt a run are refused, a damaged newest
checkpoint falls back to an intact one, and unreadable or hostile files are named for what they are."""

import datetime
import errno
import json
import os
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from fwilab.errors import CheckpointError, ConfigError, error_line
from fwilab.training.checkpoint import load_checkpoint
from fwilab.training.loop import train
from fwilab.training.record import RunRecord
from fwilab.training.train_settings import check_train
from helpers import compose_train, tiny_train_config, wandb_records

FAST = ("trainer.max_steps=6", "trainer.checkpoint_every_steps=1", "diagnostics=off")


def _config(data_root: Path, *overrides: str, logger: str = "none", **trouble: int | str):
    cfg = tiny_train_config(data_root, *FAST, f"logger={logger}", *overrides)
    if trouble:
        with open_dict(cfg):
            cfg.loss = {"_target_": "helpers.faults.TroubleAtCall", **trouble, "lambda_g1v": 1.0, "lambda_g2v": 1.0}
    return cfg


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _wandb_status(run_dir: Path) -> str:
    """The status the offline W&B run was finished with, read back with W&B's own reader."""
    summary = {}
    for record in wandb_records(run_dir):
        if record["type"] == "summary":
            summary.update(record["summary"]["update"])
    return summary["status"]


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train(check_train(_config(tiny_dataset, "trainer.keep_checkpoints=3")), run_dir)
    return run_dir


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.grad_clip_norm=-1", "trainer.grad_clip_norm=-1 must be a positive number (null: no clipping)"),
        ("trainer.grad_clip_norm=0", "trainer.grad_clip_norm=0 must be a positive number (null: no clipping)"),
        ("loss.lambda_g1v=-0.5", "loss.lambda_g1v=-0.5 must not be negative"),
        ("loss.lambda_g2v=-1", "loss.lambda_g2v=-1 must not be negative"),
        ("scheduler.warmup_steps=-10", "scheduler.warmup_steps=-10 must be a whole number of at least 0"),
        ("trainer.skip_nonfinite_steps=-1", "trainer.skip_nonfinite_steps=-1 must be a whole number of at least 0"),
    ],
)
def test_settings_that_corrupt_a_run_are_refused(override, message):
    """What train.py checks before reading or generating any data (the CLI test shows it as one line)."""
    with pytest.raises(ConfigError) as refused:
        check_train(compose_train(override))
    assert str(refused.value) == message


@pytest.mark.parametrize("override", ["trainer.grad_clip_norm=null", "trainer.grad_clip_norm=1.5", "loss.lambda_g2v=0"])
def test_settings_at_their_limits_are_accepted(override):
    check_train(compose_train(override))


def test_a_crash_mid_run_is_recorded_failed(tiny_dataset, tmp_path):
    with pytest.raises(RuntimeError, match="boom in the loss"):
        train(check_train(_config(tiny_dataset, logger="wandb", call=3)), tmp_path)
    assert _status(tmp_path)["status"] == "failed" and _status(tmp_path)["error"] == "boom in the loss"
    assert _wandb_status(tmp_path) == "failed"
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*.pt")) == [
        "step_00000001.pt",
        "step_00000002.pt",
    ]


@pytest.mark.parametrize(
    "before, after",
    [
        (None, {"status": "failed", "error": "boom"}),
        ({"status": "running", "best": None}, {"status": "failed", "best": None, "error": "boom"}),
        ({"status": "completed"}, {"status": "failed", "error": "boom"}),  # an error after the run ended
        ({"status": "preempted", "preempted_at_step": 3}, {"status": "preempted", "preempted_at_step": 3}),
        ({"status": "diverged", "error": "nan"}, {"status": "diverged", "error": "nan"}),
    ],
)
def test_an_error_the_run_did_not_record_marks_it_failed_and_keeps_a_status_it_wrote(tmp_path, before, after):
    if before is not None:
        (tmp_path / "metrics.json").write_text(json.dumps(before))
    RunRecord.mark_failed(tmp_path, "boom")
    assert _status(tmp_path) == after


def test_ctrl_c_checkpoints_marks_interrupted_and_resumes_to_the_same_weights(tiny_dataset, uninterrupted, tmp_path):
    trouble = {"call": 3, "presses": 1, "marker": str(tmp_path / "pressed")}  # once: the resumed run keeps its loss
    record = train(check_train(_config(tiny_dataset, "trainer.keep_checkpoints=3", **trouble)), tmp_path)
    assert record["status"] == "interrupted" and record["interrupted_at_step"] == 3
    assert _status(tmp_path)["status"] == "interrupted" and (tmp_path / "checkpoints" / "step_00000003.pt").is_file()
    resumed = train(check_train(_config(tiny_dataset, "trainer.keep_checkpoints=3", **trouble)), tmp_path)
    assert resumed["status"] == "completed"
    ours, theirs = _weights(tmp_path), _weights(uninterrupted)
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


def test_a_second_ctrl_c_stops_at_once_keeping_the_last_checkpoint(tiny_dataset, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(check_train(_config(tiny_dataset, logger="wandb", call=3, presses=2)), tmp_path)
    assert _status(tmp_path)["status"] == "interrupted" and _status(tmp_path)["interrupted_at_step"] == 3
    assert _wandb_status(tmp_path) == "interrupted"
    assert os.readlink(tmp_path / "checkpoints" / "last.pt") == "step_00000002.pt"
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell which file is being synced")
def test_a_full_disk_during_a_checkpoint_fails_the_run_naming_the_file_and_keeps_the_last_one(
    tiny_dataset, tmp_path, monkeypatch
):
    """ENOSPC cannot be made real without mounting a tiny filesystem, so fsync (where a full disk shows up
    for a delayed write) fails for the step-3 checkpoint: a monkeypatch at the OS boundary."""
    real_fsync = os.fsync

    def full_disk(descriptor: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{descriptor}")).name.startswith(".step_00000003.pt."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as failed:
        train(check_train(_config(tiny_dataset)), tmp_path)
    target = tmp_path / "checkpoints" / "step_00000003.pt"
    assert error_line(failed.value) == f"{target}: No space left on device"
    assert _status(tmp_path)["status"] == "failed" and _status(tmp_path)["error"] == error_line(failed.value)
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.pt", "step_00000001.pt", "step_00000002.pt"]
    assert load_checkpoint(target.parent / "last.pt")["step"] == 2


def test_a_truncated_newest_checkpoint_falls_back_to_the_intact_one(tiny_dataset, uninterrupted, tmp_path, caplog):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    for step in (4, 5, 6):
        name = f"step_{step:08d}.pt"
        (run_dir / "checkpoints" / name).write_bytes((uninterrupted / "checkpoints" / name).read_bytes())
    newest = run_dir / "checkpoints" / "step_00000006.pt"
    newest.write_bytes(newest.read_bytes()[:50_000])  # a copy cut short
    with caplog.at_level("INFO"):
        record = train(check_train(_config(tiny_dataset, "trainer.keep_checkpoints=3")), run_dir)
    assert f"cannot read checkpoint {newest}: " in caplog.text and "moved to step_00000006.pt.damaged" in caplog.text
    assert f"resuming from {run_dir / 'checkpoints' / 'step_00000005.pt'} at step 5" in caplog.text
    assert record["status"] == "completed" and (run_dir / "checkpoints" / "step_00000006.pt.damaged").is_file()
    ours, theirs = _weights(run_dir), _weights(uninterrupted)
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)
    assert record["val_history"] == _status(uninterrupted)["val_history"]


def test_a_blocked_pickle_is_named(tmp_path):
    path = tmp_path / "hostile.pt"
    torch.save({"model": {}, "config": {}, "made": datetime.date(2020, 1, 1)}, path)
    with pytest.raises(CheckpointError, match=r"it holds a datetime\.date object, which is not unpickled"):
        load_checkpoint(path)


def test_an_unreadable_checkpoint_is_an_os_error_not_a_damaged_one(tmp_path):
    """/proc/self/mem reads fail with EIO even for root (who ignores permissions): a real unreadable file.
    (An unreadable data file, through the command line: tests/tasks/train/test_command.py.)"""
    if not Path("/proc/self/mem").is_file():
        pytest.skip("needs Linux's /proc/self/mem")
    checkpoint = tmp_path / "unreadable.pt"
    checkpoint.symlink_to("/proc/self/mem")
    with pytest.raises(OSError) as unreadable:
        load_checkpoint(checkpoint)
    assert error_line(unreadable.value) == f"{checkpoint}: Input/output error"
