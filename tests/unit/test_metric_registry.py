"""The metric registry's directions and formats, checked through what uses them: the record's best checkpoint,
the sweep summary's ranking, the baseline comparison, and the log lines users read."""

import pytest
import torch

from fwilab.experiments.comparison import compare_models, markdown_report
from fwilab.experiments.summary import Job, summary_rows
from fwilab.metric_registry import (
    EVALUATION_LINE,
    REFINEMENT_COLUMNS,
    REGISTRY,
    VALIDATION_METRICS,
    format_metrics,
    format_table,
    format_validation,
    metric_of,
)
from fwilab.training.metrics import MetricAccumulator
from fwilab.training.record import RunRecord


def _validation(noise: float) -> dict[str, float]:
    """Validation metrics of smooth maps in [-1, 1] predicted with ``noise``: more noise, a worse prediction."""
    generator = torch.Generator().manual_seed(0)
    truth = torch.linspace(-0.9, 0.9, 70).view(1, 1, 70, 1).expand(4, 1, 70, 70)
    prediction = (truth + noise * torch.randn(truth.shape, generator=generator)).clamp(-1, 1)
    accumulator = MetricAccumulator(ms_per_unit=1500.0)
    accumulator.update(prediction, truth)
    return accumulator.compute()


@pytest.fixture(scope="module")
def close_and_far() -> tuple[dict[str, float], dict[str, float]]:
    close, far = _validation(0.05), _validation(0.5)
    assert close["ssim"] > far["ssim"] and close["mae"] < far["mae"]  # OpenFWI's convention: SSIM up, errors down
    return close, far


@pytest.mark.parametrize("monitor", VALIDATION_METRICS)
def test_the_record_keeps_the_closer_prediction_whatever_it_monitors(close_and_far, monitor):
    close, far = close_and_far
    record = RunRecord(None, monitor=monitor)
    improved = [record.add_validation(step, 0, metrics) for step, metrics in enumerate((far, close, far), start=1)]
    assert improved == [True, True, False] and record.data["best"]["step"] == 2


def _job(name: str, metrics: dict[str, float], samples_per_s: float, model: str = "InversionNet", seed: int = 0):
    config = {"model": {"_target_": f"fwilab.models.{model}", "base_channels": 4}, "seed": seed}
    record = {"status": "completed", "best": metrics, "final": metrics, "train_samples_per_s": samples_per_s}
    return Job(name, [f"seed={seed}"], config, {**record, "parameters": 1})


@pytest.mark.parametrize("column", ["best_ssim", "final_ssim", "best_mae", "final_rmse", "best_mae_ms"])
def test_the_summary_ranks_the_closer_prediction_first(close_and_far, column):
    close, far = close_and_far
    jobs = [_job("far", far, 10.0), _job("close", close, 10.0)]
    assert [row["job"] for row in summary_rows(jobs, column)] == ["close", "far"]


def test_the_summary_ranks_the_faster_run_first(close_and_far):
    jobs = [_job("slow", close_and_far[0], 10.0), _job("fast", close_and_far[0], 20.0)]
    assert [row["job"] for row in summary_rows(jobs, "samples_per_s")] == ["fast", "slow"]


def test_a_closer_candidate_is_better_in_every_metric_and_seed(close_and_far):
    close, far = close_and_far
    jobs = [_job(f"b{seed}", far, 10.0, "InversionNet", seed) for seed in (0, 1)]
    jobs += [_job(f"c{seed}", close, 10.0, "ReconstructionNet", seed) for seed in (0, 1)]
    differences = compare_models(jobs)["differences"]["ReconstructionNet"]
    assert {name: differences[name]["better_in"] for name in ("mae", "rmse", "ssim", "mae_ms")} == dict.fromkeys(
        ("mae", "rmse", "ssim", "mae_ms"), 2
    )
    reversed_roles = [_job(f"b{seed}", close, 10.0, "InversionNet", seed) for seed in (0, 1)]
    reversed_roles += [_job(f"c{seed}", far, 10.0, "ReconstructionNet", seed) for seed in (0, 1)]
    assert compare_models(reversed_roles)["differences"]["ReconstructionNet"]["ssim"]["better_in"] == 0
    assert "(negative MAE/RMSE and positive SSIM favour the candidate)" in markdown_report(compare_models(jobs))


def test_the_log_lines_read_as_they_always_have():
    """Byte for byte what the format strings before the registry printed ('%.4f', '%.1f m/s', two spaces in evaluate's)."""
    metrics = {"mae": 0.17104, "mse": 0.0556, "rmse": 0.23581, "ssim": 0.71849, "mae_ms": 256.56, "rmse_ms": 353.71}
    assert format_validation(metrics) == "val MAE 0.1710 (256.6 m/s) RMSE 0.2358 SSIM 0.7185"
    evaluated = format_metrics(metrics, EVALUATION_LINE, separator="  ")
    assert evaluated == "MAE 0.1710 (256.6 m/s)  MSE 0.05560  RMSE 0.2358 (353.7 m/s)  SSIM 0.7185"


@pytest.mark.parametrize(
    ("key", "name"),
    [("best_mae", "mae"), ("final_ssim", "ssim"), ("data_misfit_median", "data_misfit"), ("mae_ms", "mae_ms")],
)
def test_a_result_key_names_its_metric(key, name):
    assert metric_of(key) is REGISTRY[name]


def test_keys_that_are_no_metric_have_none():
    assert metric_of("wall_time_s") is None and metric_of("steps") is None


def test_refines_table_reads_headings_and_formats_from_the_registry():
    rows = [
        {"model": "network", "mae": 0.18861, "mae_ms": 282.92, "ssim": 0.69312, "data_misfit_mean": 0.41906,
         "data_misfit_median": 0.4},
        {"model": "truth", "mae": 0.0, "mae_ms": 0.0, "ssim": 1.0, "data_misfit_mean": 0.0, "data_misfit_median": 0.0},
    ]  # fmt: skip
    assert format_table(rows, "model", REFINEMENT_COLUMNS) == [
        "model      MAE MAE m/s   SSIM data misfit mean data misfit median",
        "network 0.1886   282.9 0.6931           0.4191             0.4000",
        "truth   0.0000     0.0 1.0000           0.0000             0.0000",
    ]
