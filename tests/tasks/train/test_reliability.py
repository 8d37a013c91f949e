"""Reliability: exact resume after SIGKILL, clean stop on SIGTERM/SIGUSR1, divergence guard, retention."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from fwilab.errors import CheckpointError, ConfigError
from fwilab.training.guard import TrainingDiverged
from fwilab.training.loop import train
from fwilab.training.randomness import restore_rng_state, rng_state
from fwilab.training.train_settings import check_train
from helpers import ROOT, files_in, tiny_train_config
from helpers.checkpoint_formats import write_pre_manager_checkpoint

STEPS = 16


def _command(data_root: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "data=curvefault_a",
        f"data.root={data_root}",
        "data.train_split=train.txt",
        "data.val_split=val.txt",
        "model=reconstruction",
        "model.base_channels=8",
        "trainer.batch_size=4",
        "trainer.device=cpu",
        "trainer.precision=fp32",  # resumed runs are compared bit for bit with the reference (auto may pick bf16)
        f"trainer.max_steps={STEPS}",
        "trainer.checkpoint_every_steps=1",
        "trainer.val_every_steps=8",
        "trainer.log_every_steps=2",
        "logger=none",
        "diagnostics.every_n_steps=4",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The last checkpoint's networks: the model's weights, and a critic's where the objective has one."""
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {f"{part}.{key}": value for part in ("model", "critic") for key, value in saved.get(part, {}).items()}


GAN = ("objective=velocitygan", "objective.n_critic=2")  # 4 steps an epoch: the generator at its 2nd and 4th


def _first_loss_call(step: int, objective: str) -> int:
    """The velocity loss's call number at the start of training step ``step``: once a step, and for the GAN once
    more at each generator step (every even step here)."""
    earlier = step - 1
    return earlier + (earlier // 2 if objective == "velocitygan" else 0) + 1


@pytest.fixture(scope="module")
def reference_run(tiny_dataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("reference")
    subprocess.run(_command(tiny_dataset, run_dir), check=True, capture_output=True, timeout=300)
    return run_dir


@pytest.fixture(scope="module")
def gan_reference_run(tiny_dataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("gan_reference")
    subprocess.run(_command(tiny_dataset, run_dir, *GAN), check=True, capture_output=True, timeout=600)
    return run_dir


def _held_command(data_root: Path, run_dir: Path, step: int, *extra: str) -> list[str]:
    """``_command`` with a loss that holds call ``step`` until ``run_dir``/release exists. The loss is the run's
    (a resume must keep it): a run resumed with the same command, once released, goes through."""
    command = _command(data_root, run_dir, "loss._target_=helpers.faults.HeldAt", f"+loss.call={step}")
    return [*command, f"+loss.release={run_dir / 'release'}", *extra]


def _resumed(data_root: Path, run_dir: Path, step: int, *extra: str) -> subprocess.CompletedProcess:
    """The run of ``_held_command``, run again after its release."""
    (run_dir / "release").touch()
    command = _held_command(data_root, run_dir, step, *extra)
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=_faults_env())


def _faults_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "tests")}


def _held(data_root: Path, run_dir: Path, step: int, *extra: str) -> subprocess.Popen:
    """The run of ``_held_command``, held at training step ``step`` until ``run_dir``/release exists."""
    return subprocess.Popen(
        _held_command(data_root, run_dir, step, *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_faults_env(),
        start_new_session=True,
    )


def _wait_for_checkpoints(run_dir: Path, count: int, process: subprocess.Popen) -> None:
    """Until step ``count``'s checkpoint exists (the process is held later, so it cannot finish first)."""
    deadline = time.monotonic() + 600  # a loaded 2-core machine
    while time.monotonic() < deadline and process.poll() is None:
        steps = list((run_dir / "checkpoints").glob("step_*.pt")) if (run_dir / "checkpoints").exists() else []
        if steps and max(int(p.stem[5:]) for p in steps) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"no checkpoint of step {count} (exit status {process.poll()})")


def _assert_same_run(run_dir: Path, reference: Path) -> None:
    ours, theirs = _final_weights(run_dir), _final_weights(reference)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    for key in ("train_loss", "train_losses", "val_history", "best", "final"):
        assert metrics[key] == expected[key]


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["supervised", "velocitygan"])
def test_sigkill_at_a_random_step_then_resume_gives_identical_weights(tiny_dataset, objective, request, tmp_path):
    reference = request.getfixturevalue("gan_reference_run" if objective == "velocitygan" else "reference_run")
    extra = GAN if objective == "velocitygan" else ()
    run_dir = tmp_path / "victim"
    kill_after = random.Random().randint(1, STEPS - 2)
    held_at = _first_loss_call(kill_after + 2, objective)
    victim = _held(tiny_dataset, run_dir, held_at, *extra)  # never released: it is killed before it can finish
    _wait_for_checkpoints(run_dir, kill_after, victim)
    time.sleep(random.Random().uniform(0.0, 0.05))  # anywhere inside the next step or checkpoint write
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, victim.stderr.read()[-3000:]
    resumed = _resumed(tiny_dataset, run_dir, held_at, *extra)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in (run_dir / "train.log").read_text()
    _assert_same_run(run_dir, reference)


@pytest.mark.slow
def test_a_second_run_in_a_live_runs_directory_is_refused_and_a_killed_ones_is_taken_over(
    tiny_dataset, reference_run, tmp_path
):
    """One run per directory: the holder is named and nothing is written; after kill -9 the next run takes over."""
    run_dir = tmp_path / "run"
    holder = _held(tiny_dataset, run_dir, 6, "diagnostics.enabled=false")  # never released: killed while it holds
    deadline = time.monotonic() + 600  # a loaded 2-core machine
    while not (run_dir / "held").exists() and holder.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (run_dir / "held").exists(), holder.stderr.read()[-3000:]
    before = files_in(run_dir)
    second = subprocess.run(_command(tiny_dataset, run_dir, "seed=1"), capture_output=True, text=True, timeout=300)
    assert holder.poll() is None  # still holding: held at step 6 until killed
    assert second.returncode == 1 and second.stderr.count("\n") == 1, second.stderr
    lock = json.loads((run_dir / ".fwilab.lock").read_text())
    assert lock["pid"] == holder.pid and second.stderr == (
        f"error: run directory {run_dir} is in use by pid {holder.pid} on {lock['host']} since {lock['since']} "
        "(lock file .fwilab.lock); wait for it to end or choose another hydra.run.dir\n"
    )
    assert files_in(run_dir) == before  # not one byte written: no .hydra/, config.yaml or train.log line
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    resumed = _resumed(tiny_dataset, run_dir, 6, "diagnostics.enabled=false")
    assert resumed.returncode == 0, resumed.stderr
    log = (run_dir / "train.log").read_text()
    assert (
        f"took over the lock {run_dir / '.fwilab.lock'} from pid {holder.pid} on {lock['host']}, which is gone" in log
    )
    assert f"resuming from {run_dir / 'checkpoints' / 'step_00000005.pt'} at step 5" in log
    assert not (run_dir / ".fwilab.lock").exists()
    _assert_same_run(run_dir, reference_run)


@pytest.mark.slow
@pytest.mark.parametrize(
    "signal_number, workers, whole_group",
    [
        (signal.SIGTERM, 0, False),
        (signal.SIGUSR1, 0, False),
        (signal.SIGUSR2, 0, False),  # submitit's signal, here without submitit: checkpoint and a clean exit
        (signal.SIGTERM, 2, True),  # scancel / a terminal signals every process, DataLoader workers included
    ],
)
def test_preemption_signal_checkpoints_and_stops_cleanly(
    tiny_dataset, reference_run, tmp_path, signal_number, workers, whole_group
):
    run_dir = tmp_path / "preempted"
    process = _held(tiny_dataset, run_dir, 4, f"trainer.num_workers={workers}")
    _wait_for_checkpoints(run_dir, 3, process)
    if whole_group:
        os.killpg(process.pid, signal_number)
    else:
        process.send_signal(signal_number)
    (run_dir / "release").touch()  # the signal is already pending: step 4 is the one that finishes
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "preempted" and metrics["preempted_at_step"] == 4
    assert (run_dir / "checkpoints" / "step_00000004.pt").exists()
    resumed = _resumed(tiny_dataset, run_dir, 4)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(run_dir, reference_run)


@pytest.mark.slow
@pytest.mark.parametrize("preempt_signal", ["", "USR1"])  # submitit spells it without SIG
def test_submitit_preemption_checkpoints_requeues_and_resumes_to_the_same_weights(
    tiny_dataset, reference_run, tmp_path, preempt_signal
):
    """Through hydra-submitit-launcher's local executor: submitit's own handler requeues the job after fwilab's checkpoint."""
    sweep = tmp_path / "sweep"
    env = {key: value for key, value in os.environ.items() if key != "SUBMITIT_PREEMPT_SIGNAL"}
    env.update(
        {"PYTHONPATH": str(ROOT / "tests")}, **({"SUBMITIT_PREEMPT_SIGNAL": preempt_signal} if preempt_signal else {})
    )
    signal_name = f"SIG{preempt_signal or 'USR2'}"
    python, script, *overrides = _command(
        tiny_dataset,
        tmp_path / "unused",
        "hydra/launcher=submitit_local",
        f"hydra.sweep.dir={sweep}",
        "hydra.launcher.timeout_min=60",
        "loss._target_=helpers.faults.PreemptedOnce",
        "+loss.call=5",
        f"+loss.signal_name={signal_name}",
        f"+loss.marker={tmp_path / 'preempted'}",
    )
    command = [python, script, "-m", *overrides]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    log = (sweep / "0" / "train.log").read_text()
    assert f"stopped by {signal_name} at step 5" in log and f"handing {signal_name} to the job's own handler" in log
    assert "this job is preempted" in log  # submitit's handler ran and requeued (not a time-out)
    assert f"resuming from {sweep / '0' / 'checkpoints' / 'step_00000005.pt'} at step 5" in log
    _assert_same_run(sweep / "0", reference_run)


@pytest.mark.slow
def test_only_the_newest_checkpoints_are_kept(reference_run):
    folder = reference_run / "checkpoints"
    assert sorted(p.name for p in folder.glob("step_*.pt")) == [f"step_{STEPS - 1:08d}.pt", f"step_{STEPS:08d}.pt"]
    assert os.readlink(folder / "last.pt") == f"step_{STEPS:08d}.pt" and (folder / "best.pt").is_file()
    assert not list(folder.glob(".*"))


@pytest.fixture(scope="module")
def short_run(tiny_dataset, tmp_path_factory) -> Path:
    """Four steps checkpointed in process: a run to resume with changed settings."""
    run_dir = tmp_path_factory.mktemp("short")
    train(
        check_train(tiny_train_config(tiny_dataset, "trainer.max_steps=4", "logger=none", "diagnostics=off")), run_dir
    )
    return run_dir


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=1", r"seed is 0 there and 1 now"),
        (
            "data.train_samples=12",
            r"data\.train is '16 samples of 2 files, sha256 \w{8}' there and '12 samples of 2 files, sha256 \w{8}' now",
        ),
        ("data.subset_seed=5", None),  # the whole split: which subset seed does not matter
        ("trainer.batch_size=8", r"batch_size is 4 there and 8 now"),
        ("model.base_channels=16", r"model\.base_channels is 8 there and 16 now"),
        ("lr=0.01", r"optimizer\.lr is 0\.001 there and 0\.01 now"),
        ("weight_decay=0.1", r"optimizer\.weight_decay is 0\.0001 there and 0\.1 now"),
        ("optimizer=adam", r"optimizer\._target_ is 'torch\.optim\.AdamW' there and 'torch\.optim\.Adam' now"),
        ("scheduler=constant", r"scheduler\._target_ is 'fwilab\.training\.schedules\.warmup_cosine' there and "),
        ("scheduler.warmup_steps=3", r"scheduler\.warmup_steps is 2 there and 3 now"),
        ("loss.lambda_g2v=0.5", r"loss\.lambda_g2v is 1\.0 there and 0\.5 now"),
        ("trainer.grad_clip_norm=1.0", r"trainer\.grad_clip_norm is None there and 1\.0 now"),
        ("trainer.num_workers=1", None),  # how the data is read, not what is trained: it may change
    ],
)
def test_resume_into_a_different_run_is_refused_naming_the_key(tiny_dataset, short_run, tmp_path, override, message):
    cfg = tiny_train_config(
        tiny_dataset,
        "trainer.max_steps=4",
        "logger=none",
        "diagnostics=off",
        override,
        f"trainer.resume={short_run / 'checkpoints' / 'last.pt'}",
    )
    if message is None:
        assert train(check_train(cfg), tmp_path)["status"] == "completed"
        return
    with pytest.raises(CheckpointError, match=r"^cannot resume from .*last\.pt: " + message):
        train(check_train(cfg), tmp_path)


def test_a_checkpoint_of_the_pre_manager_layout_resumes_to_the_same_weights(tiny_dataset, tmp_path, caplog):
    """A run interrupted under an fwilab before the checkpoint manager continues bit for bit (its meter included:
    step 3's loss is in the interval logged at step 4)."""
    overrides = ("trainer.max_steps=4", "trainer.checkpoint_every_steps=1", "logger=none", "diagnostics=off")
    straight = train(check_train(tiny_train_config(tiny_dataset, *overrides)), tmp_path / "straight")
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    saved = torch.load(tmp_path / "straight" / "checkpoints" / "step_00000003.pt", weights_only=True)
    write_pre_manager_checkpoint(tmp_path / "old" / "checkpoints" / "step_00000003.pt", saved)
    with caplog.at_level("INFO"):
        resumed = train(check_train(tiny_train_config(tiny_dataset, *overrides)), tmp_path / "old")
    assert "step_00000003.pt at step 3" in caplog.text
    assert resumed["train_loss"] == straight["train_loss"] and resumed["val_history"] == straight["val_history"]
    ours, theirs = _final_weights(tmp_path / "old"), _final_weights(tmp_path / "straight")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_resume_never_moves_the_old_checkpoints_aside(tiny_dataset, short_run, tmp_path, caplog):
    run_dir = tmp_path / "run"
    train(
        check_train(
            tiny_train_config(
                tiny_dataset, "trainer.max_steps=6", "trainer.val_every_steps=6", "logger=none", "diagnostics=off"
            )
        ),
        run_dir,
    )
    with caplog.at_level("WARNING"):
        train(
            check_train(
                tiny_train_config(
                    tiny_dataset, "trainer.max_steps=2", "logger=none", "diagnostics=off", "trainer.resume=never"
                )
            ),
            run_dir,
        )
    moved = [p for p in run_dir.iterdir() if p.name.startswith("checkpoints.replaced-")]
    assert len(moved) == 1 and f"were moved to {moved[0]}" in caplog.text
    assert sorted(p.name for p in moved[0].glob("step_*.pt")) == ["step_00000006.pt"]
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt")) == ["step_00000002.pt"]
    assert os.readlink(run_dir / "checkpoints" / "last.pt") == "step_00000002.pt"
    with caplog.at_level("INFO"):
        again = train(
            check_train(tiny_train_config(tiny_dataset, "trainer.max_steps=2", "logger=none", "diagnostics=off")),
            run_dir,
        )
    assert (
        again["status"] == "completed"
        and "resuming from" in caplog.text
        and str(run_dir / "checkpoints" / "step_00000002.pt") in caplog.text
    )


def test_unwritable_run_directory_is_a_clear_error(tiny_dataset, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot write to the run directory"):
        train(check_train(tiny_train_config(tiny_dataset, "logger=none")), blocked / "run")


def _nan_gradient_config(data_root, bad_calls, *overrides):
    cfg = tiny_train_config(data_root, "trainer.max_steps=8", "logger=none", "diagnostics=off", *overrides)
    with open_dict(cfg):
        cfg.loss = {"_target_": "helpers.faults.NanGradientLoss", "bad_calls": bad_calls}
    return cfg


def test_nan_gradient_with_finite_loss_stops_the_run(tiny_dataset, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"at step 3 \(lr="):
        train(check_train(_nan_gradient_config(tiny_dataset, [3])), tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"
    assert not (tmp_path / "checkpoints").exists()


def test_skip_nonfinite_steps_tolerates_a_few_bad_steps(tiny_dataset, tmp_path, caplog):
    record = train(
        check_train(_nan_gradient_config(tiny_dataset, [3], "trainer.skip_nonfinite_steps=1")), tmp_path / "ok"
    )
    assert record["status"] == "completed"
    assert any("step 3: non-finite loss or gradient, update skipped" in r.getMessage() for r in caplog.records)
    weights = torch.load(tmp_path / "ok" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    with pytest.raises(TrainingDiverged, match=r"at step 5 "):
        train(
            check_train(_nan_gradient_config(tiny_dataset, [3, 4, 5, 6], "trainer.skip_nonfinite_steps=2")),
            tmp_path / "bad",
        )


def test_persistent_nan_gradients_under_fp16_scaling_are_divergence(tiny_dataset, tmp_path):
    """With the gradient scaler on (fp16, forced here on CPU), every bad step is skipped by the scaler."""
    from fwilab.training.guard import SCALER_SKIP_LIMIT

    cfg = _nan_gradient_config(tiny_dataset, list(range(3, 100)), "trainer.precision=fp16", "trainer.max_steps=60")
    with pytest.raises(TrainingDiverged, match=rf"at step {3 + SCALER_SKIP_LIMIT} .*fp16"):
        train(check_train(cfg), tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "diverged"
    few = train(
        check_train(_nan_gradient_config(tiny_dataset, [3, 4, 5], "trainer.precision=fp16", "trainer.max_steps=8")),
        tmp_path / "few",
    )
    assert few["status"] == "completed"  # a few overflows are the scaler's business


def test_rng_state_round_trip():
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
