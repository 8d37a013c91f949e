"""An OpenFWI checkpoint through the commands: evaluate it, fine-tune from it, export the result as a file OpenFWI's
test.py reads."""

import json

import pytest
import torch

from fwilab.models import InversionNet
from helpers import run_script
from helpers.openfwi_download import write_download
from helpers.references import OpenFWIDiscriminator, write_openfwi_checkpoint, write_openfwi_gan_checkpoint

pytestmark = pytest.mark.slow


def test_evaluate_fine_tune_and_export_an_openfwi_checkpoint(tmp_path):
    root = write_download(tmp_path, "curvefault_a")
    write_openfwi_checkpoint(tmp_path / "checkpoint.pth", legacy=True)
    data = ["data=curvefault_a", f"data.root={root}"]
    unnamed = run_script("evaluate.py", f"checkpoint={tmp_path / 'checkpoint.pth'}", f"hydra.run.dir={tmp_path / 'e0'}")
    assert (
        unnamed.returncode == 1
        and "error: " in unnamed.stderr
        and "is an OpenFWI checkpoint (model InversionNet, dataset curvefault-a)" in unnamed.stderr
    )
    scored = run_script(
        "evaluate.py",
        f"checkpoint={tmp_path / 'checkpoint.pth'}",
        "model=inversionnet",
        *data,
        "device=cpu",
        f"hydra.run.dir={tmp_path / 'e1'}",
    )
    assert scored.returncode == 0, scored.stderr
    result = json.loads((tmp_path / "e1" / "metrics.json").read_text())
    assert result["samples"] == 12 and result["step"] == 120 and 0 < result["mae"] < 2
    tuned = run_script(
        "train.py",
        *data,
        f"model.init_from={tmp_path / 'checkpoint.pth'}",
        "trainer.max_steps=2",
        "trainer.batch_size=2",
        "trainer.device=cpu",
        "logger=none",
        "diagnostics=off",
        "data.val_samples=2",
        f"hydra.run.dir={tmp_path / 'tune'}",
    )
    assert tuned.returncode == 0, tuned.stderr
    assert (
        f"model weights from {tmp_path / 'checkpoint.pth'} (step 120)" in (tmp_path / "tune" / "train.log").read_text()
    )
    exported = run_script(
        "export_openfwi.py",
        f"checkpoint={tmp_path / 'tune' / 'checkpoints' / 'best.pt'}",
        f"out={tmp_path / 'model_2.pth'}",
    )
    assert exported.returncode == 0, exported.stderr
    # what OpenFWI's test.py --resume does: a plain torch.load, then checkpoint['model'], ['epoch'], ['step']
    state = torch.load(tmp_path / "model_2.pth", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["step"]) == (0, 2) and set(state["model"]) == set(InversionNet().state_dict())
    tuned_weights = torch.load(tmp_path / "tune" / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(state["model"][key], tuned_weights[key]) for key in tuned_weights)


def test_an_openfwi_velocitygan_checkpoint_scores_as_its_generator_trains_on_and_exports_for_gan_train_py(tmp_path):
    root = write_download(tmp_path, "curvefault_a")
    write_openfwi_gan_checkpoint(tmp_path / "gan.pth")
    write_openfwi_checkpoint(tmp_path / "supervised.pth")  # the same generator weights, saved by train.py
    data = ["model=inversionnet", "data=curvefault_a", f"data.root={root}", "device=cpu"]
    for name in ("gan", "supervised"):
        scored = run_script(
            "evaluate.py", f"checkpoint={tmp_path / f'{name}.pth'}", *data, f"hydra.run.dir={tmp_path / name}"
        )
        assert scored.returncode == 0, scored.stderr
    results = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("gan", "supervised")]
    assert {key: results[0][key] for key in ("mae", "rmse", "ssim")} == {
        key: results[1][key] for key in ("mae", "rmse", "ssim")
    }
    train = [*data[:-1], "trainer.device=cpu", "objective=velocitygan", "trainer.max_steps=2", "trainer.batch_size=2"]
    train += ["logger=none", "diagnostics=off", "data.val_samples=2", f"model.init_from={tmp_path / 'gan.pth'}"]
    refused = run_script(
        "train.py",
        *train,
        f"objective.critic_init_from={tmp_path / 'supervised.pth'}",
        f"hydra.run.dir={tmp_path / 'r'}",
    )
    assert (
        refused.returncode == 1
        and "supervised.pth is an OpenFWI train.py checkpoint (supervised: no critic" in refused.stderr
    )
    tuned = run_script(
        "train.py", *train, f"objective.critic_init_from={tmp_path / 'gan.pth'}", f"hydra.run.dir={tmp_path / 'tune'}"
    )
    assert tuned.returncode == 0, tuned.stderr
    assert f"critic weights from {tmp_path / 'gan.pth'}" in (tmp_path / "tune" / "train.log").read_text()
    best = tmp_path / "tune" / "checkpoints" / "best.pt"
    exported = run_script("export_openfwi.py", f"checkpoint={best}", f"out={tmp_path / 'checkpoint.pth'}")
    assert exported.returncode == 0, exported.stderr
    state = torch.load(tmp_path / "checkpoint.pth", map_location="cpu", weights_only=True)  # as gan_train.py --resume
    assert {"model", "model_d", "optimizer_g", "optimizer_d", "lr_schedulers", "epoch", "step"} <= set(state)
    OpenFWIDiscriminator().load_state_dict(state["model_d"])
    tuned_critic = torch.load(best, weights_only=True)["critic"]
    assert all(torch.equal(state["model_d"][key], tuned_critic[key]) for key in tuned_critic)
