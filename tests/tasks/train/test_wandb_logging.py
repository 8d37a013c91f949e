"""W&B runs, read back from the offline .wandb file with W&B's own reader; local PNGs; no-network fallback; the mode
W&B's own settings give; lineage from a training run's model to the runs that use it."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import wandb
from omegaconf import open_dict

from fwilab.config.tasks import EvaluateSettings, RefineTaskSettings, read_settings
from fwilab.experiments.dashboard import build_report, load_specification, publish, sweep_facts
from fwilab.tasks.evaluate import evaluate_checkpoint
from fwilab.tasks.refine import run_refine
from fwilab.tracking import build_logger
from fwilab.tracking.run_logger import FanOutLogger, RunLogger, image_file_name
from fwilab.tracking.wandb_run import wandb_mode
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import WANDB_CLI, compose_train, task_config, tiny_train_config, wandb_records


@pytest.fixture
def fresh_wandb_session():
    """W&B reads its environment once per process (``wandb.setup``): a test that points it at an unreachable server
    starts a new session, so that WANDB_BASE_URL applies and no real server is contacted, and ends it after."""
    wandb.teardown()
    yield
    wandb.teardown()


@pytest.fixture(scope="module")
def offline_run(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("wandb_run")
    cfg = tiny_train_config(
        tiny_dataset,
        "trainer.max_steps=8",
        "trainer.val_every_steps=4",
        "diagnostics.every_n_steps=2",
        "diagnostics.patterns=[enc.0]",
        "diagnostics.types=[]",
        "logger.tags=[smoke]",
    )
    return run_dir, train(check_train(cfg), run_dir)


def test_offline_run_history_has_metrics_and_images(offline_run):
    run_dir, _ = offline_run
    records = wandb_records(run_dir)
    history = {}
    for record in records:
        if record["type"] == "history":
            item = record["history"]["item"]
            history[item["_step"]] = item
    assert sorted(history) == [2, 4, 6, 8]
    assert {"train/loss", "train/lr", "train/samples_per_s"} <= set(history[2])
    assert {"val/mae", "val/rmse", "val/ssim", "val/mae_ms"} <= set(history[4])
    assert history[2]["activations/enc.0/montage._type"] == "image-file"
    assert "velocity/sample0.path" in history[8] and "activations/enc.0/pca_rgb.path" in history[6]
    for step in (2, 4, 6, 8):  # per-layer numbers charted over steps, and a histogram per layer
        assert {f"activations/enc.0/{name}" for name in ("mean", "std", "effective_rank", "negative_share")} <= set(
            history[step]
        )
        assert history[step]["activations/enc.0/histogram._type"] == "histogram"
    assert "activations/enc.0/cka_previous" not in history[2]  # no previous snapshot to compare with
    assert all(0 < history[step]["activations/enc.0/cka_previous"] <= 1 + 1e-9 for step in (4, 6, 8))
    media = run_dir.glob("wandb/offline-run-*/files/" + history[8]["activations/enc.0/montage.path"])
    assert [p.stat().st_size > 0 for p in media] == [True]


def test_offline_run_identity_config_summary_and_artifact(offline_run):
    run_dir, record = offline_run
    records = wandb_records(run_dir)
    [run] = [r["run"] for r in records if r["type"] == "run"]
    assert run["config"]["update"]["optimizer"]["_target_"] == "torch.optim.AdamW"
    assert run["tags"] == ["ReconstructionNet", "adamw", "curvefault_a", "smoke"]  # names; lr is in the config
    summary = {}
    for r in records:
        if r["type"] == "summary":
            summary.update({k: v for k, v in r["summary"]["update"].items()})
    assert summary["best/mae"] == pytest.approx(record["best"]["mae"]) and summary["status"] == "completed"
    [model] = [r["artifact"] for r in records if r["type"] == "artifact" and r["artifact"]["type"] == "model"]
    [entry] = model["manifest"]["contents"]  # staged in the run's own W&B folder: the run directory syncs alone
    [sync_dir] = run_dir.glob("wandb/offline-run-*")
    assert Path(entry["local_path"]).parent == sync_dir / "artifacts" / model["name"]
    folder = run_dir / "checkpoints"
    assert Path(entry["local_path"]).read_bytes() == (folder / "best_weights.pt").read_bytes()
    artifact = torch.load(folder / "best_weights.pt", weights_only=True)
    assert set(artifact) == {"model", "config", "normalizer", "step", "fingerprint"}  # no optimizer or random states
    assert (folder / "best_weights.pt").stat().st_size < 0.5 * (folder / "best.pt").stat().st_size


def test_a_preempted_then_resumed_run_is_one_wandb_run_marked_preempted(tiny_dataset, tmp_path):
    overrides = [
        "trainer.max_steps=8",
        "trainer.val_every_steps=4",
        "trainer.checkpoint_every_steps=1",
        "diagnostics=off",
    ]
    cfg = tiny_train_config(tiny_dataset, *overrides)
    with open_dict(cfg):
        cfg.loss = {  # SLURM's notice at step 3, once: the resumed run keeps its loss, as a resume must
            "_target_": "helpers.faults.PreemptedOnce",
            **{"call": 3, "signal_name": "SIGUSR1", "marker": str(tmp_path / "preempted")},
            **{"lambda_g1v": 1.0, "lambda_g2v": 1.0},
        }
    first = train(check_train(cfg), tmp_path)
    assert first["status"] == "preempted" and first["preempted_at_step"] == 3
    second = train(check_train(cfg), tmp_path)
    assert second["status"] == "completed" and second["wandb_run_id"] == first["wandb_run_id"]
    files = sorted(tmp_path.glob("wandb/offline-run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime)
    assert len(files) == 2 and all(f.name == f"run-{first['wandb_run_id']}.wandb" for f in files)
    before, after = (wandb_records(tmp_path, f) for f in files)
    assert any(r["type"] == "preempting" for r in before) and not any(r["type"] == "preempting" for r in after)
    steps = [[r["history"]["item"]["_step"] for r in records if r["type"] == "history"] for records in (before, after)]
    assert steps[0] == [2] and steps[1] == [4, 6, 8]  # the history goes on after the checkpoint of step 3


def test_same_pictures_are_pngs_in_the_run_dir(offline_run):
    run_dir, _ = offline_run
    steps = sorted(p.name for p in (run_dir / "activations").iterdir())
    assert steps == ["statistics.csv", "step_000002", "step_000004", "step_000006", "step_000008"]
    assert sorted(p.name for p in (run_dir / "activations" / "step_000004").iterdir()) == [
        "enc.0_montage.png",
        "enc.0_pca_rgb.png",
        "statistics.json",
        "velocity_sample0.png",
        "velocity_sample1.png",
    ]


def test_logger_none_writes_no_wandb_files(tiny_dataset, tmp_path):
    train(
        check_train(
            tiny_train_config(tiny_dataset, "trainer.max_steps=2", "logger=none", "diagnostics.every_n_steps=1")
        ),
        tmp_path,
    )
    assert not (tmp_path / "wandb").exists() and (tmp_path / "activations" / "step_000001").is_dir()


def test_unreachable_wandb_does_not_stop_training(tiny_dataset, tmp_path, monkeypatch, caplog, fresh_wandb_session):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    cfg = tiny_train_config(tiny_dataset, "trainer.max_steps=2", "logger.init_timeout_s=3", "diagnostics=off")
    assert cfg.logger.mode == "online"
    record = train(check_train(cfg), tmp_path)
    assert record["status"] == "completed"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("W&B did not start")


def test_a_backend_that_raises_is_dropped_after_one_warning(caplog):
    class Broken(RunLogger):
        def log_metrics(self, metrics, step):
            raise RuntimeError("wandb exploded")

    calls = []

    class Recording(RunLogger):
        def log_metrics(self, metrics, step):
            calls.append(step)

    fan_out = FanOutLogger([Broken(), Recording()])
    for step in range(3):
        fan_out.log_metrics({"x": 1.0}, step)
    assert calls == [0, 1, 2] and len(fan_out.backends) == 1
    assert sum("wandb exploded" in r.getMessage() for r in caplog.records) == 1


def test_image_file_names():
    assert image_file_name("activations/enc.3/montage") == "enc.3_montage.png"
    assert image_file_name("velocity/sample0") == "velocity_sample0.png"
    assert image_file_name("activations/a b/pca") == "a_b_pca.png"


def test_wandb_run_follows_its_users_conventions(tiny_dataset, tmp_path, monkeypatch, caplog):
    """Project and entity from the environment, job type, one model artifact per run, best summaries, the console;
    the offline run's id and the command that uploads it in the log."""
    monkeypatch.setenv("WANDB_PROJECT", "seismic-team")
    monkeypatch.setenv("WANDB_ENTITY", "lab")
    cfg = tiny_train_config(
        tiny_dataset, "trainer.max_steps=8", "trainer.val_every_steps=2", "lr=0.05", "diagnostics=off"
    )
    console = logging.StreamHandler(sys.stdout)  # what Hydra's job logging does
    logging.getLogger("fwilab").addHandler(console)
    try:
        with caplog.at_level(logging.INFO, logger="fwilab"):
            record = train(check_train(cfg), tmp_path)
    finally:
        logging.getLogger("fwilab").removeHandler(console)
    records = wandb_records(tmp_path)
    [run] = [r["run"] for r in records if r["type"] == "run"]
    assert (run["project"], run["entity"], run["job_type"]) == ("seismic-team", "lab", "train")
    [artifact] = [r["artifact"] for r in records if r["type"] == "artifact"]
    assert artifact["name"] == f"model-{record['wandb_run_id']}" and sorted(artifact["aliases"]) == ["best", "latest"]
    assert json.loads(artifact["metadata"]) == {"monitor": "mae", **record["best"]}
    history = [r["history"]["item"] for r in records if r["type"] == "history" and "val/mae" in r["history"]["item"]]
    assert len(history) == 4
    summary = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    for metric, best in (("mae", min), ("rmse", min), ("mae_ms", min), ("ssim", max)):
        assert summary[f"val/{metric}"] == {best.__name__: best(item[f"val/{metric}"] for item in history)}
    console_lines = "".join(r["output_raw"]["line"] for r in records if r["type"] == "output_raw")
    assert "step 8/8 epoch 1: loss" in console_lines and "val MAE" in console_lines
    [sync_dir] = tmp_path.glob("wandb/offline-run-*")
    assert (sync_dir / f"run-{record['wandb_run_id']}.wandb").is_file()
    assert f"W&B run {record['wandb_run_id']} is offline; upload it with: wandb sync {sync_dir}" in caplog.messages


def test_the_command_line_names_the_project_over_the_environment(monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    assert (compose_train().logger.project, compose_train().logger.entity) == ("from-env", None)
    assert compose_train("logger.project=mine", "logger.entity=me").logger.project == "mine"
    monkeypatch.delenv("WANDB_PROJECT")
    assert compose_train().logger.project == "fwilab"


def test_dashboard_takes_a_single_run_directory(offline_run, tmp_path):
    run_dir, record = offline_run
    [run] = [r["run"] for r in wandb_records(run_dir) if r["type"] == "run"]
    facts = sweep_facts(run_dir)
    assert facts.project == run["project"]
    publish(build_report(facts, "one run"), tmp_path / "report.json", dry_run=True)
    report = load_specification(tmp_path / "report.json")
    [filters] = {runset.filters for block in report.blocks for runset in getattr(block, "runsets", [])}
    assert filters == f"Metric(\"ID\") == '{run['run_id']}'"  # W&B's form of ID = '<run id>'
    panels = [panel for block in report.blocks for panel in getattr(block, "panels", []) if hasattr(panel, "y")]
    lines = {panel.title: [getattr(y, "name", y) for y in panel.y] for panel in panels}
    assert lines["effective_rank"] == ["activations/enc.0/effective_rank"] and lines["validation MAE"] == ["val/mae"]
    assert facts.velocity_keys == ["velocity/sample0", "velocity/sample1"]


def test_the_mode_follows_wandb_online_and_offline_in_the_working_directory(
    tmp_path, monkeypatch, caplog, fresh_wandb_session
):
    """W&B's order: WANDB_MODE, else what `wandb offline` / `wandb online` keep in ./wandb/settings, else offline,
    written there as `wandb offline` writes it, so that `wandb online` undoes it and the next run goes online."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WANDB_DIR")  # as a user runs it: W&B's workspace is the working directory
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))

    def wandb_command(command: str) -> None:
        done = subprocess.run([str(WANDB_CLI), command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    assert compose_train().logger.mode is None
    assert wandb_mode(None) == "offline" and (tmp_path / "wandb" / "settings").is_file()
    wandb_command("online")
    assert wandb_mode(None) == "online"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens: no server is contacted
    build_logger(compose_train("logger.init_timeout_s=3").logger, tmp_path, "train", [], {}).finish("completed")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name.startswith("fwilab")]
    assert len(warnings) == 1 and warnings[0].startswith("W&B did not start") and "127.0.0.1:9" in warnings[0]
    wandb_command("offline")
    assert wandb_mode(None) == "offline"
    monkeypatch.setenv("WANDB_MODE", "online")  # the environment over the settings files, as W&B reads them
    assert wandb_mode(compose_train().logger.mode) == "online"
    assert wandb_mode(compose_train("logger.mode=disabled").logger.mode) == "disabled"  # the command line over both


def test_evaluate_and_refine_use_the_training_runs_model_artifact(offline_run, tmp_path):
    """W&B's lineage: each records the training run's model as its input, with the same digest (so W&B finds the
    training run's version), staged in its own run directory; a step's checkpoint is no artifact: nothing recorded."""
    run_dir, record = offline_run
    [trained] = [r["artifact"] for r in wandb_records(run_dir) if r["type"] == "artifact"]
    best = run_dir / "checkpoints" / "best.pt"
    evaluated = task_config("evaluate", best, logger="wandb", physics={"samples": 0})
    evaluate_checkpoint(read_settings(evaluated, EvaluateSettings), tmp_path / "evaluate")
    refine = task_config("refine", best, logger="wandb", samples=1, iterations=1, batch_size=1, pictures=1)
    run_refine(read_settings(refine, RefineTaskSettings), tmp_path / "refine")
    for task in ("evaluate", "refine"):
        [used] = [r["artifact"] for r in wandb_records(tmp_path / task) if r["type"] == "artifact"]
        assert (used["name"], used["type"], used.get("use_after_commit")) == (trained["name"], "model", True)
        assert trained["name"] == f"model-{record['wandb_run_id']}" and used["digest"] == trained["digest"]
        [entry] = used["manifest"]["contents"]
        assert Path(entry["local_path"]).is_relative_to(tmp_path / task / "wandb")
    [step] = sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1:]
    stepped = task_config("evaluate", step, logger="wandb", physics={"samples": 0})
    evaluate_checkpoint(read_settings(stepped, EvaluateSettings), tmp_path / "step")
    assert not [r for r in wandb_records(tmp_path / "step") if r["type"] == "artifact"]
