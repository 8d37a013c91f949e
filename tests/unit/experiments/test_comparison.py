"""The baseline comparison keys runs by model x objective, so that either objective of a model can be the baseline."""

import pytest

from fwilab.errors import DataError
from fwilab.experiments.comparison import compare_models
from fwilab.experiments.summary import Job


def _job(seed: int, objective: str | None, mae: float) -> Job:
    config = {"model": {"_target_": "fwilab.models.InversionNet", "base_channels": 4}, "seed": seed}
    if objective is not None:  # None: a run from before the objective group (it trained supervised)
        config["objective"] = {"name": objective}
    metrics = {"mae": mae, "mse": mae**2, "rmse": mae, "ssim": 1 - mae, "mae_ms": 1500 * mae}
    record = {"status": "completed", "best": metrics, "final": metrics, "train_samples_per_s": 5.0, "parameters": 1}
    return Job(f"{objective}-{seed}", [f"seed={seed}", f"objective={objective}"], config, record)


def test_one_model_trained_two_ways_is_two_methods_and_either_can_be_the_baseline():
    jobs = [_job(seed, "supervised" if seed else None, 0.2) for seed in (0, 1)]
    jobs += [_job(seed, "velocitygan", 0.1) for seed in (0, 1)]
    report = compare_models(jobs)
    assert set(report["models"]) == {"InversionNet", "InversionNet+velocitygan"}
    assert report["models"]["InversionNet"]["seeds"] == [0, 1]  # an old supervised run pairs with a new one
    gan = report["differences"]["InversionNet+velocitygan"]["mae"]
    assert gan["better_in"] == 2 and gan["mean_difference"] == pytest.approx(-0.1)
    reversed_roles = compare_models(jobs, baseline="InversionNet+velocitygan")
    assert reversed_roles["differences"]["InversionNet"]["mae"]["better_in"] == 0
    with pytest.raises(DataError, match=r"no completed InversionNet\+physics run .*InversionNet\+velocitygan"):
        compare_models(jobs, baseline="InversionNet+physics")
