"""OpenFWI checkpoints in and out: one loads strictly into InversionNet, other pickles are refused, only InversionNet
exports (the commands that evaluate, fine-tune and export one: tests/tasks/test_export_openfwi.py).

The OpenFWI-format file is built by helpers.references from the module names and shapes of OpenFWI's network.py,
not from fwilab's model, and pickled the way OpenFWI's train.py saves it (an argparse.Namespace of options beside
the weights).
"""

import fractions

import pytest
import torch

from fwilab.errors import CheckpointError
from fwilab.models import InversionNet
from fwilab.training.checkpoint import export_openfwi, read_saved_model
from helpers.references import write_openfwi_checkpoint

pytestmark = pytest.mark.slow


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


def test_only_inversionnet_exports(tmp_path):
    from fwilab.models import ReconstructionNet

    with pytest.raises(CheckpointError, match="OpenFWI.s network.py has no ReconstructionNet of these shapes"):
        export_openfwi(ReconstructionNet(base_channels=8), step=1, epoch=0, path=tmp_path / "x.pth")
