"""OpenFWI checkpoints in and out: evaluate one, fine-tune from one, export one OpenFWI's test.py reads.

The OpenFWI-format file is built here from the module names and shapes of OpenFWI's network.py
(test_models.OPENFWI_INVERSIONNET), not from fwilab's model, and pickled the way OpenFWI's train.py
saves it (an argparse.Namespace of options beside the weights).
"""

import argparse
import fractions
import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from fwilab.errors import CheckpointError
from fwilab.models import InversionNet
from fwilab.training.checkpoint import export_openfwi, read_saved_model
from openfwi_download import write_download
from test_models import OPENFWI_INVERSIONNET

pytestmark = pytest.mark.slow
LEGACY = {"deconv6": "Conv2DwithBN_Tanh", "deconv1_1": "Deconv2DwithBN"}  # older OpenFWI releases' Sequential names


def openfwi_state_dict(legacy: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {}
    for block, shape in OPENFWI_INVERSIONNET.items():
        sequential = (
            LEGACY.get(
                block, "Deconv2DwithBN" if block.startswith("deconv") and block.endswith("_1") else "Conv2DwithBN"
            )
            if legacy
            else "layers"
        )
        out_channels = shape[1] if block.startswith("deconv") and block.endswith("_1") else shape[0]
        prefix = f"{block}.{sequential}"
        state[f"{prefix}.0.weight"] = 0.02 * torch.randn(shape, generator=generator)
        state[f"{prefix}.0.bias"] = torch.zeros(out_channels)
        state[f"{prefix}.1.weight"] = torch.ones(out_channels)
        state[f"{prefix}.1.bias"] = torch.zeros(out_channels)
        state[f"{prefix}.1.running_mean"] = torch.zeros(out_channels)
        state[f"{prefix}.1.running_var"] = torch.ones(out_channels)
        state[f"{prefix}.1.num_batches_tracked"] = torch.tensor(7)
    return state


def write_openfwi_checkpoint(path, legacy: bool = False):
    model = openfwi_state_dict(legacy)
    args = argparse.Namespace(
        model="InversionNet", dataset="curvefault-a", lr=1e-4, lr_milestones=[], epochs=120, resume=None
    )
    torch.save(
        {
            "model": model,
            "optimizer": {"state": {}, "param_groups": []},
            "lr_scheduler": {"last_epoch": 5},
            "epoch": 3,
            "step": 120,
            "args": args,
        },
        path,
    )
    return model


def run(script, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )


@pytest.mark.parametrize("legacy", [False, True])
def test_openfwi_checkpoint_loads_strictly_into_inversionnet(tmp_path, legacy):
    weights = write_openfwi_checkpoint(tmp_path / "checkpoint.pth", legacy)
    saved = read_saved_model(tmp_path / "checkpoint.pth")
    assert saved.config is None and saved.step == 120 and saved.openfwi_args["dataset"] == "curvefault-a"
    model = InversionNet()
    model.load_state_dict(saved.weights, strict=True)
    first = next(iter(weights.values()))
    assert torch.equal(model.convblock1.layers[0].weight, first)


def test_other_pickled_objects_are_refused(tmp_path):
    torch.save({"model": {}, "args": fractions.Fraction(1, 3)}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*evil.pth"):
        read_saved_model(tmp_path / "evil.pth")


def test_evaluate_fine_tune_and_export_an_openfwi_checkpoint(tmp_path):
    root = write_download(tmp_path, "curvefault_a")
    write_openfwi_checkpoint(tmp_path / "checkpoint.pth", legacy=True)
    data = ["data=curvefault_a", f"data.root={root}"]
    unnamed = run("evaluate.py", f"checkpoint={tmp_path / 'checkpoint.pth'}", f"hydra.run.dir={tmp_path / 'e0'}")
    assert (
        unnamed.returncode == 1
        and "error: " in unnamed.stderr
        and "is an OpenFWI checkpoint (model InversionNet, dataset curvefault-a)" in unnamed.stderr
    )
    scored = run(
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
    tuned = run(
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
    exported = run(
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


def test_only_inversionnet_exports(tmp_path):
    from fwilab.models import ReconstructionNet

    with pytest.raises(CheckpointError, match="OpenFWI.s network.py has no ReconstructionNet of these shapes"):
        export_openfwi(ReconstructionNet(base_channels=8), step=1, epoch=0, path=tmp_path / "x.pth")
