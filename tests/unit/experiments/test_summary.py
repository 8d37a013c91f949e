"""Sweep summaries from run directories alone: rows, sorting, failed jobs, CSV and charts."""

import csv
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from fwilab.errors import DataError
from fwilab.experiments.summary import load_jobs, summarize, summary_rows, varying_keys


def _job(root, number, optimizer, lr, history=None, status="completed"):
    job = root / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"optimizer={optimizer}", f"lr={lr}", "trainer.max_steps=20"])
    )
    (job / "config.yaml").write_text(
        yaml.safe_dump({"lr": lr, "optimizer": {"_target_": f"torch.optim.{optimizer.title()}"}})
    )
    if history is not None:
        val = [
            {"step": 10 * (i + 1), "mae": m, "rmse": m * 1.2, "ssim": 1 - m, "mae_ms": m * 1500}
            for i, m in enumerate(history)
        ]
        best = min(val, key=lambda v: v["mae"])
        (job / "metrics.json").write_text(
            json.dumps(
                {
                    "status": status,
                    "val_history": val,
                    "best": best,
                    "final": val[-1],
                    "train_loss": [[10, 1.0], [20, 0.5]],
                    "wall_time_s": 12.5,
                    "train_samples_per_s": 40.0,
                }
            )
        )


@pytest.fixture()
def sweep(tmp_path):
    _job(tmp_path, 0, "adam", 1e-4, [0.5, 0.4])
    _job(tmp_path, 1, "adam", 1e-3, [0.3, 0.35])
    _job(tmp_path, 2, "lamb", 1e-4, [0.45, 0.2])
    _job(tmp_path, 3, "lamb", 1e-3, [0.6], status="diverged")
    _job(tmp_path, 4, "adam", 1e-2)  # crashed before writing metrics
    return tmp_path


def test_rows_sorted_by_best_mae_with_missing_jobs_last(sweep):
    rows = summary_rows(load_jobs(sweep), "best_mae")
    assert [row["job"] for row in rows] == ["2", "1", "0", "3", "4"]
    assert (
        rows[0]["overrides"] == "optimizer=lamb lr=0.0001"
        and rows[0]["best_mae"] == 0.2
        and rows[0]["final_mae"] == 0.2
    )
    assert rows[1]["best_mae"] == 0.3 and rows[1]["final_mae"] == 0.35 and rows[1]["steps"] == 20
    assert rows[3]["status"] == "diverged" and rows[4]["status"] == "missing" and rows[4]["best_mae"] is None


def test_higher_is_better_metrics_sort_descending(sweep):
    rows = summary_rows(load_jobs(sweep), "best_ssim")
    assert [row["job"] for row in rows][:3] == ["2", "1", "0"]
    with pytest.raises(DataError, match="cannot sort by"):
        summary_rows(load_jobs(sweep), "accuracy")


def test_varying_keys_are_the_sweep_axes(sweep):
    assert varying_keys(load_jobs(sweep)) == {"optimizer", "lr"}


def test_summarize_writes_table_csv_and_charts(sweep, tmp_path):
    paths = summarize(sweep, out=tmp_path / "report")
    table = paths["markdown"].read_text().splitlines()
    assert table[0].startswith("| job | overrides | status | best_mae") and len(table) == 2 + 5
    with open(paths["csv"]) as handle:
        assert [row["job"] for row in csv.DictReader(handle)] == ["2", "1", "0", "3", "4"]
    for kind in ("curves", "lr"):
        image = np.asarray(Image.open(paths[kind]).convert("RGB"))
        assert image.shape[0] >= 500 and len(np.unique(image.reshape(-1, 3), axis=0)) > 20


def test_a_directory_without_jobs_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="holds no Hydra job directories"):
        load_jobs(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_jobs(tmp_path / "nope")


def test_search_objective_reads_best_or_final_metrics():
    from fwilab.errors import ConfigError
    from fwilab.experiments.search import IncompleteTrial, objective

    record = {"status": "completed", "best": {"mae": 0.2, "ssim": 0.8}, "final": {"mae": 0.25, "ssim": 0.7}}
    assert objective(record, "best_mae") == 0.2 and objective(record, "final_ssim") == 0.7
    with pytest.raises(IncompleteTrial, match="ended preempted at step 40"):
        objective({**record, "status": "preempted", "preempted_at_step": 40}, "best_mae")
    with pytest.raises(ConfigError, match="optimized_metric='top_mae'"):
        objective(record, "top_mae")
    with pytest.raises(ConfigError, match="optimized_metric='best_psnr'"):
        objective(record, "best_psnr")
