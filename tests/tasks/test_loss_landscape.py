"""The loss_landscape command on a trained run: its plots and values."""

import json

import numpy as np
import pytest
from PIL import Image

from helpers import run_script

pytestmark = pytest.mark.slow


def test_loss_landscape_writes_plots_and_values(default_style_run):
    tmp, _ = default_style_run
    out = tmp / "landscape"
    result = run_script(
        "loss_landscape.py",
        f"checkpoint={tmp / 'run' / 'checkpoints' / 'best.pt'}",
        "samples=4",
        "batch_size=2",
        "points_1d=5",
        "points_2d=3",
        "logger=none",
        f"hydra.run.dir={out}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    assert result.returncode == 0, result.stderr
    values = json.loads((out / "landscape.json").read_text())
    assert len(values["loss_1d"]) == 5 and np.array(values["loss_2d"]).shape == (3, 3) and values["samples"] == 4
    assert values["loss_1d"][2] == pytest.approx(values["loss_2d"][1][1])  # both pass through the trained weights
    for name in ("loss_1d.png", "loss_2d.png"):
        assert np.asarray(Image.open(out / name)).shape[0] >= 300
