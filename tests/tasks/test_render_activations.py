"""The render_activations command on a trained run: pictures and statistics of a chosen sample."""

import json

import pytest

from helpers import run_script, tiny_data_args

pytestmark = pytest.mark.slow


def test_render_activations_for_a_chosen_sample(default_style_run, tiny_dataset):
    tmp, _ = default_style_run
    checkpoint = tmp / "run" / "checkpoints" / "best.pt"
    result = run_script(
        "render_activations.py",
        f"checkpoint={checkpoint}",
        *tiny_data_args(tiny_dataset),
        "split=train",
        "sample=5",
        f"hydra.run.dir={tmp / 'render'}",
    )
    assert result.returncode == 0, result.stderr
    [folder] = (tmp / "render" / "activations").glob("step_*")
    names = sorted(p.name for p in folder.iterdir())
    assert "enc.0_montage.png" in names and "enc.0_pca_rgb.png" in names and "velocity_sample0.png" in names
    assert "enc.7_montage.png" in names and "enc.7_pca_rgb.png" not in names  # 1 x 1 bottleneck: montage only
    numbers = json.loads((folder / "statistics.json").read_text())["scalars"]
    assert (
        1 <= numbers["activations/enc.0/effective_rank"] <= 8 and 0 <= numbers["activations/dec.0/negative_share"] <= 1
    )
    outside = run_script(
        "render_activations.py",
        f"checkpoint={checkpoint}",
        "sample=99",
        f"hydra.run.dir={tmp / 'render2'}",
        env={"FWILAB_DATA_DIR": str(tmp / "cache")},
    )
    assert (
        outside.returncode == 1
        and outside.stderr.strip() == "error: sample=99 is outside val, which holds samples 0..3"
    )
    train_mode = run_script(
        "render_activations.py",
        f"checkpoint={checkpoint}",
        "diagnostics.mode=train",
        f"hydra.run.dir={tmp / 'render3'}",
    )
    assert train_mode.returncode == 1 and train_mode.stderr.startswith(
        "error: diagnostics.mode=train needs at least 2 probe samples, this probe holds 1"
    )
