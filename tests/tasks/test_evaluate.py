"""The evaluate command: metrics on a split, on an official OpenFWI download, and a damaged checkpoint's one line."""

import json

import pytest

from helpers import TINY_MODEL, run_script, tiny_data_args
from helpers.openfwi_download import write_download

pytestmark = pytest.mark.slow


def test_evaluate_reports_metrics_on_a_split(default_style_run, tiny_dataset):
    tmp, _ = default_style_run
    checkpoint = tmp / "run" / "checkpoints" / "best.pt"
    own = run_script(
        "evaluate.py",
        f"checkpoint={checkpoint}",
        f"hydra.run.dir={tmp / 'eval'}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    assert own.returncode == 0, own.stderr
    assert "MAE" in own.stdout and json.loads((tmp / "eval" / "metrics.json").read_text())["samples"] == 4
    other = run_script(
        "evaluate.py",
        f"checkpoint={checkpoint}",
        *tiny_data_args(tiny_dataset),
        "split=train",
        f"hydra.run.dir={tmp / 'eval2'}",
    )
    assert other.returncode == 0, other.stderr
    assert json.loads((tmp / "eval2" / "metrics.json").read_text())["samples"] == 16


@pytest.mark.parametrize("family, train_samples", [("curvefault_a", 96), ("flatvel_a", 48), ("style_b", 120)])
def test_train_and_evaluate_on_an_official_download(tmp_path, family, train_samples):
    root = write_download(tmp_path, family)
    data = [f"data={family}", f"data.root={root}"]
    trained = run_script(
        "train.py",
        *data,
        *TINY_MODEL,
        "trainer.max_steps=2",
        "logger=none",
        "diagnostics=off",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert trained.returncode == 0, trained.stderr
    assert f"{train_samples} train / " in (tmp_path / "run" / "train.log").read_text()
    scored = run_script(
        "evaluate.py",
        f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'best.pt'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
    )
    assert scored.returncode == 0, scored.stderr
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert result["mae"] == pytest.approx(
        json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]["mae"], abs=1e-6
    )


def test_evaluate_with_a_damaged_checkpoint_is_one_line(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 10)
    result = run_script("evaluate.py", f"checkpoint={tmp_path / 'bad.pt'}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.returncode == 1 and result.stderr.startswith("error: cannot read checkpoint")
    assert result.stderr.count("\n") == 1 and "cannot read checkpoint" not in result.stdout  # once, not also logged
    assert "weights_only" not in result.stderr  # the cause, not torch's advice to load it unsafely
