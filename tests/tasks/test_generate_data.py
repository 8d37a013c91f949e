"""The generate_data command: a data set with its preview, as a user runs it."""

import json

import pytest

from helpers import run_script

pytestmark = pytest.mark.slow


def test_generate_data_cli_with_preview(tmp_path):
    out = tmp_path / "flat"
    result = run_script(
        "generate_data.py",
        "family=flatvel_a",
        "n_train=3",
        "n_val=2",
        f"out={out}",
        "preview=true",
        "preview_samples=2",
        "report=true",
        f"hydra.run.dir={tmp_path / 'log'}",
    )
    assert result.returncode == 0, result.stderr
    assert (out / "preview.png").stat().st_size > 10_000 and (out / "report.png").stat().st_size > 50_000
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["family"] == "flatvel_a" and (metadata["data_min"], metadata["data_max"]) == (-26.95, 52.77)
    log = result.stdout + result.stderr
    assert "generated 5 flatvel_a models in" in log and "models/s on cpu" in log
    assert "published range -26.95 .. 52.77" in log and "monotonic_share" in log
    refused = run_script(
        "generate_data.py",
        "family=saltdome",
        "n_train=3",
        "n_val=2",
        f"out={tmp_path / 'x'}",
        f"hydra.run.dir={tmp_path / 'log2'}",
    )
    assert refused.returncode == 1 and "choose one of" in refused.stderr
