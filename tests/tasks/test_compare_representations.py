"""Layer x layer CKA between two trained models (compare_representations.py), against an independent HSIC."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fwilab.errors import ConfigError
from fwilab.tasks.representations import compare_representations
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import run_script, tiny_train_config, wandb_records
from helpers.references import hsic_cka


@pytest.fixture(scope="module")
def two_runs(tiny_dataset, tmp_path_factory):
    """InversionNet and ReconstructionNet (base width 8) after 2 steps on the same data."""
    runs = {}
    for model in ("inversionnet", "reconstruction"):
        run_dir = tmp_path_factory.mktemp(model)
        cfg = tiny_train_config(
            tiny_dataset,
            f"model={model}",
            "model.base_channels=8",
            "trainer.max_steps=2",
            "diagnostics=off",
            "logger=none",
        )
        train(check_train(cfg), run_dir)
        runs[model] = run_dir
    return runs


def _flattened_outputs(run_dir, layer, samples):
    """A layer's flattened outputs on the first validation samples, captured here with a plain hook."""
    from omegaconf import OmegaConf

    from fwilab.training.trained_model import load_trained

    loaded = load_trained(
        OmegaConf.create(
            {
                "checkpoint": str(run_dir / "checkpoints" / "best.pt"),
                "split": "val",
                "device": "cpu",
                "normalization": "checkpoint",
            }
        )
    )
    seismic = torch.stack([loaded.dataset[i][0] for i in range(samples)])
    seen = {}
    module = dict(loaded.model.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, i, o: seen.update(out=o.flatten(1).double().numpy()))
    with torch.no_grad():
        loaded.model(loaded.normalizer.seismic(seismic))
    handle.remove()
    return seen["out"]


def test_cka_between_inversionnet_and_reconstructionnet(two_runs, tmp_path):
    matrix = compare_representations(
        two_runs["inversionnet"], two_runs["reconstruction"], tmp_path, samples=8, device="cpu"
    )
    assert matrix.rows[0] == "convblock1" and matrix.rows[-1] == "deconv6" and len(matrix.rows) == 25
    assert matrix.columns[0] == "enc.0" and matrix.columns[-1] == "head" and len(matrix.columns) == 19
    assert matrix.values.shape == (25, 19) and np.all((matrix.values >= 0) & (matrix.values <= 1 + 1e-9))
    expected = hsic_cka(
        _flattened_outputs(two_runs["inversionnet"], "convblock3_1", 8),
        _flattened_outputs(two_runs["reconstruction"], "dec.1", 8),
    )
    assert matrix.values[matrix.rows.index("convblock3_1"), matrix.columns.index("dec.1")] == pytest.approx(
        expected, abs=1e-6
    )  # float32 forwards
    with (tmp_path / "cka.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 25 * 19 and float(table[0]["cka"]) == pytest.approx(matrix.values[0, 0])
    picture = np.asarray(Image.open(tmp_path / "cka.png"))
    assert picture.ndim == 3 and picture.shape[0] > 400 and picture.std() > 10


def test_a_model_compared_with_itself_has_a_unit_diagonal(two_runs, tmp_path):
    run = two_runs["reconstruction"]
    matrix = compare_representations(run, run / "checkpoints" / "best.pt", tmp_path, samples=8, device="cpu")
    assert np.allclose(np.diag(matrix.values), 1.0) and np.allclose(matrix.values, matrix.values.T)


def test_compare_refuses_too_few_samples_and_a_missing_run(two_runs, tmp_path):
    run = two_runs["reconstruction"]
    with pytest.raises(ConfigError, match="samples=2: CKA needs at least 4 probe samples"):
        compare_representations(run, run, tmp_path, samples=2, device="cpu")
    with pytest.raises(ConfigError, match="neither a checkpoint file nor a run directory"):
        compare_representations(run, tmp_path / "nowhere", tmp_path, device="cpu")


@pytest.mark.slow
def test_compare_representations_writes_a_heat_map_and_a_wandb_table(default_style_run):
    tmp, _ = default_style_run
    run_dir, out = tmp / "run", tmp / "cka"
    result = run_script(
        "compare_representations.py",
        f"a={run_dir}",
        f"b={run_dir / 'checkpoints' / 'best.pt'}",
        "samples=4",
        f"hydra.run.dir={out}",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "cka.json").read_text())
    assert report["samples"] == 4 and report["rows"] == report["columns"] and np.allclose(np.diag(report["cka"]), 1.0)
    assert Image.open(out / "cka.png").size[0] > 500
    records = wandb_records(out)
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert history[0]["cka/table._type"] == "table-file" and history[0]["cka/heat_map._type"] == "image-file"
    assert [r["run"]["job_type"] for r in records if r["type"] == "run"] == ["compare_representations"]
    missing = run_script(
        "compare_representations.py", f"a={tmp / 'nowhere'}", f"b={run_dir}", f"hydra.run.dir={tmp / 'cka2'}"
    )
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == f"error: {tmp / 'nowhere'}: neither a checkpoint file nor a run directory with checkpoints/best.pt"
    )
