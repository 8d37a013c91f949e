"""Refinement of whole splits: ranges and shards, 2 gloo processes against 1, merged shards, resume after kill -9,
the refined set scored like a model, classical FWI from a file or the 1-D start (gathers with or without maps), and
bad input refused before any work. Real deepwave, real files, a tiny trained model."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from fwilab.config.tasks import RefineTaskSettings, read_settings
from fwilab.data.openfwi import read_velocity_file
from fwilab.errors import ConfigError, DataError
from fwilab.experiments.summary import read_job
from fwilab.tasks.refine import merge_runs, run_refine
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import ROOT, files_in, refine_config, tiny_train_config

QUICK = {"samples": 4, "iterations": 2, "batch_size": 1, "pictures": 1, "starts": ["network"]}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    overrides = ("trainer.max_steps=4", "logger=none", "diagnostics=off", "physics.samples=0")
    train(check_train(tiny_train_config(tiny_dataset, *overrides)), run_dir)
    return run_dir / "checkpoints" / "best.pt"


def _settings(checkpoint, **overrides) -> RefineTaskSettings:
    return read_settings(refine_config(checkpoint, **{**QUICK, **overrides}), RefineTaskSettings)


@pytest.fixture(scope="module")
def one_process(checkpoint, tmp_path_factory):
    """The reference: 4 validation samples refined in one process, one sample per batch."""
    run_dir = tmp_path_factory.mktemp("one")
    return run_dir, run_refine(_settings(checkpoint), run_dir)


def _command(checkpoint, run_dir, *extra: str) -> list[str]:
    settings = [f"{key}={value}" for key, value in QUICK.items() if key != "starts"]
    return [
        str(ROOT / "scripts" / "refine.py"),
        f"checkpoint={checkpoint}",
        "starts=[network]",
        "logger=none",
        "device=cpu",
        *settings,
        *extra,
        f"hydra.run.dir={run_dir}",
    ]


def _same_outputs(a, b) -> None:
    """The same maps to float tolerance and the same table."""
    for name in ("network.npy", "refined_network.npy"):
        assert np.abs(read_velocity_file(a / name) - read_velocity_file(b / name)).max() < 1e-2  # m/s
    table_a, table_b = (json.loads((d / "metrics.json").read_text())["table"] for d in (a, b))
    assert [row["model"] for row in table_a] == [row["model"] for row in table_b]
    for row_a, row_b in zip(table_a, table_b):
        numbers_a, numbers_b = ({k: v for k, v in row.items() if k != "model"} for row in (row_a, row_b))
        assert numbers_a == pytest.approx(numbers_b, rel=1e-5, abs=1e-7)


def test_the_refined_set_is_scored_as_openfwi_scores_a_model(one_process, tiny_dataset):
    """metrics.json's ``final``: MAE and RMSE of the refined maps against the truth, recomputed here with numpy from
    the velocity files (normalized to [-1, 1] as OpenFWI does), the table's row of the refined maps."""
    run_dir, result = one_process
    refined = read_velocity_file(run_dir / "refined_network.npy").astype(np.float64)
    truth = np.load(tiny_dataset / "model" / "model3.npy")[:4].astype(np.float64)
    vel_min, vel_max = 1500.0, 4500.0
    error = (refined - truth) / (vel_max - vel_min) * 2
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written["status"] == "completed" and written["method"] == "network + FWI"
    assert written["final"]["mae"] == pytest.approx(np.abs(error).mean(), rel=1e-5)
    assert written["final"]["rmse"] == pytest.approx(np.sqrt(np.square(error).mean()), rel=1e-5)
    assert written["final"] == pytest.approx({k: v for k, v in written["table"][1].items() if k != "model"})
    assert [row["model"] for row in written["table"]] == ["network", "network + FWI", "truth"]
    assert result["samples"] == 4 and len(list((run_dir / "batches").glob("*.pt"))) == 4
    row = read_job(run_dir, []).row(set())  # a sweep summary's row, as for a trained model
    assert (row["final_mae"], row["final_ssim"], row["status"]) == (
        written["final"]["mae"],
        written["final"]["ssim"],
        "completed",
    )


def test_two_gloo_processes_write_what_one_process_writes(checkpoint, one_process, tmp_path):
    """torchrun with 2 CPU processes: each refines its batches, rank 0 writes the outputs in split order."""
    run_dir = tmp_path / "two"
    result = subprocess.run(
        [*TORCHRUN, *_command(checkpoint, run_dir)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _same_outputs(one_process[0], run_dir)
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"


def test_the_merge_of_two_shards_is_one_run(checkpoint, one_process, tmp_path):
    for part in (0, 1):
        result = run_refine(_settings(checkpoint, shard=f"{part}/2"), tmp_path / str(part))
        assert result["samples"] == 2 and result["first_sample"] == 2 * part
    merge_runs([tmp_path / "0", tmp_path / "1"], tmp_path / "merged")
    _same_outputs(one_process[0], tmp_path / "merged")
    run_refine(_settings(checkpoint, samples="3:4"), tmp_path / "last")
    with pytest.raises(DataError, match="leave samples 2:3 unrefined"):
        merge_runs([tmp_path / "0", tmp_path / "last"], tmp_path / "gap")


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_with_its_first_unfinished_batch(checkpoint, one_process, tmp_path):
    """kill -9 once the first batch is saved; the same command continues with the batches left, keeps the saved ones
    untouched, and its maps equal an uninterrupted run's."""
    run_dir = tmp_path / "killed"
    command = [sys.executable, *_command(checkpoint, run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 600
        while not list((run_dir / "batches").glob("*.pt")) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    saved = {path.name: path.stat().st_mtime_ns for path in (run_dir / "batches").glob("*.pt")}
    assert 1 <= len(saved) < 4 and json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming: {len(saved)} done, {4 - len(saved)} to go" in resumed.stdout + resumed.stderr
    assert {name: (run_dir / "batches" / name).stat().st_mtime_ns for name in saved} == saved  # not refined twice
    _same_outputs(one_process[0], run_dir)


def test_a_resume_with_other_settings_is_refused_and_changes_nothing(checkpoint, tmp_path):
    run_refine(_settings(checkpoint, samples=1, iterations=1), tmp_path)
    before = files_in(tmp_path)
    with pytest.raises(ConfigError, match=r"cannot resume .*: iterations is 1 there and 2 now"):
        run_refine(_settings(checkpoint, samples=1, iterations=2), tmp_path)
    with pytest.raises(ConfigError, match=r"cannot resume .*: gradient_sampling_interval is 10 there and 1 now"):
        run_refine(_settings(checkpoint, samples=1, iterations=1, gradient_sampling_interval=1), tmp_path)
    assert files_in(tmp_path) == before


def _classical(tiny_dataset, **overrides) -> RefineTaskSettings:
    """Classical FWI: no checkpoint, the tiny set's gathers named by data=..., normalized by its own constants."""
    cfg = refine_config("unused.pt", **{**QUICK, "samples": 2, "starts": "auto", **overrides})
    with open_dict(cfg):
        cfg.checkpoint = None
        cfg.data = tiny_train_config(tiny_dataset).data
    return read_settings(cfg, RefineTaskSettings)


def test_classical_fwi_from_a_velocity_file(tiny_dataset, tmp_path):
    start = np.full((8, 1, 70, 70), 3000.0, dtype=np.float32)  # one map per validation sample
    np.save(tmp_path / "start.npy", start)
    result = run_refine(_classical(tiny_dataset, start_file=str(tmp_path / "start.npy")), tmp_path / "run")
    assert [row["model"] for row in result["table"]] == ["file start", "file start + FWI", "truth"]
    assert result["table"][0]["mae"] == pytest.approx(
        np.abs(3000.0 - np.load(tiny_dataset / "model" / "model3.npy")[:2]).mean() / 1500.0, rel=1e-5
    )
    assert read_velocity_file(tmp_path / "run" / "refined_file.npy").shape == (2, 1, 70, 70)
    assert not (tmp_path / "run" / "network.npy").exists()


def test_gathers_without_velocity_files_report_the_data_misfit_alone(tiny_dataset, tmp_path):
    """The same gathers listed without their maps: the same refinement, scored by the data misfit only."""
    val = (tiny_dataset / "val.txt").read_text().split("\t")[0]
    (tmp_path / "gathers.txt").write_text(f"{tiny_dataset / val}\n")
    labelled = run_refine(_classical(tiny_dataset), tmp_path / "labelled")
    cfg = _classical(tiny_dataset).config
    with open_dict(cfg):
        cfg.data.val_split = str(tmp_path / "gathers.txt")
    alone = run_refine(read_settings(cfg, RefineTaskSettings), tmp_path / "alone")
    assert [row["model"] for row in alone["table"]] == ["1-D start", "1-D start + FWI"]
    assert "mae" not in alone["final"] and "mae" in labelled["final"]
    for mine, reference in zip(alone["table"], labelled["table"]):
        assert mine["data_misfit_mean"] == pytest.approx(reference["data_misfit_mean"], rel=1e-5)
    assert np.array_equal(
        read_velocity_file(tmp_path / "alone" / "refined_1d.npy"),
        read_velocity_file(tmp_path / "labelled" / "refined_1d.npy"),
    )


@pytest.mark.parametrize(
    "start, match",
    [
        (np.full((8, 70, 70), 3000.0), r"has shape \(8, 70, 70\); an OpenFWI velocity file is"),
        (np.full((8, 1, 70, 70), 3.0), r"holds 3\.\.3: km/s\? give velocities in m/s"),
        (np.full((8, 1, 70, 70), 9000.0), "outside the data's velocity range 1500..4500"),
        (
            np.full((5, 1, 70, 70), 3000.0),
            r"holds 5 maps; give one per sample of split=val \(8\) or of samples=2 \(2\)",
        ),
    ],
)
def test_a_bad_start_file_is_refused_before_any_work(tiny_dataset, tmp_path, start, match):
    np.save(tmp_path / "start.npy", start.astype(np.float32))
    with pytest.raises(ConfigError, match=match):
        run_refine(_classical(tiny_dataset, start_file=str(tmp_path / "start.npy")), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "override, match",
    [
        ({"samples": "0:9"}, r"samples=0:9 is outside split=val, which holds 8 samples"),
        ({"samples": "8:"}, "samples=8: is outside split=val"),
        ({"samples": 2, "shard": "2/3"}, "shard=2/3: samples=2 make only 2 batches of 1"),
        ({"starts": ["network"]}, r"the network start needs a checkpoint"),
    ],
)
def test_a_range_or_shard_outside_the_split_is_refused(tiny_dataset, tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        run_refine(_classical(tiny_dataset, **override), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "override, match",
    [
        ({"samples": "lots"}, "samples='lots' must be a number of first samples, all, or a range A:B"),
        ({"samples": "5:2"}, "samples='5:2' must be"),
        ({"shard": "4/4"}, "shard='4/4' must be K/N"),
        ({"starts": ["network", "2d"]}, "must be auto or a list of distinct starts"),
    ],
)
def test_bad_selection_settings_are_refused_before_the_checkpoint_is_read(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        read_settings(refine_config(tmp_path / "missing.pt", **override), RefineTaskSettings)


def test_the_command_line_reads_samples_all_and_a_range(tmp_path):
    """Hydra's override parser keeps ``all`` and ``A:B`` as text and a number as a number."""
    for value, expected in (("all", "all"), ("0:200", "0:200"), ("50:", "50:"), ("7", 7)):
        with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
            cfg = compose(config_name="refine", overrides=[f"checkpoint={tmp_path / 'x.pt'}", f"samples={value}"])
        assert read_settings(cfg, RefineTaskSettings).samples == expected


def test_the_merge_command_refuses_a_folder_without_refine_runs_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "refine_merge.py"), str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stderr == f"error: {tmp_path} holds no refine runs (*/refine_run.json)\n"
