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
from fwilab.models import Discriminator, InversionNet
from fwilab.training.checkpoint import Checkpoint, export_openfwi, read_saved_critic, read_saved_model
from helpers.references import (
    OpenFWIDiscriminator,
    openfwi_state_dict,
    write_openfwi_checkpoint,
    write_openfwi_gan_checkpoint,
)

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


def test_an_openfwi_velocitygan_checkpoint_gives_its_generator_and_a_critic_that_scores_as_openfwis(tmp_path):
    generator, reference = write_openfwi_gan_checkpoint(tmp_path / "checkpoint.pth")
    saved = read_saved_model(tmp_path / "checkpoint.pth")
    model = InversionNet()
    model.load_state_dict(saved.weights, strict=True)
    assert saved.step == 120 and all(torch.equal(model.state_dict()[key], generator[key]) for key in generator)
    critic = Discriminator()
    critic.load_state_dict(read_saved_critic(tmp_path / "checkpoint.pth"), strict=True)
    maps = torch.rand(3, 1, 70, 70) * 2 - 1
    for train_mode in (False, True):  # running statistics, then batch statistics (as the critic trains)
        critic.train(train_mode), reference.train(train_mode)
        with torch.no_grad():
            torch.testing.assert_close(critic(maps), reference(maps), rtol=0, atol=0)


def test_a_critic_is_refused_from_a_checkpoint_of_another_objective(tmp_path):
    write_openfwi_checkpoint(tmp_path / "checkpoint.pth")
    with pytest.raises(
        CheckpointError, match=r"checkpoint.pth is an OpenFWI train.py checkpoint \(supervised: no critic"
    ):
        read_saved_critic(tmp_path / "checkpoint.pth")
    Checkpoint(parts={"model": openfwi_state_dict(legacy=False)}, config={"objective": {"name": "supervised"}}).save(
        tmp_path / "best.pt"
    )
    with pytest.raises(CheckpointError, match=r"best.pt is an fwilab objective=supervised checkpoint \(no critic\)"):
        read_saved_critic(tmp_path / "best.pt")


def test_a_velocitygan_run_exports_what_gan_train_py_resume_and_test_py_read(tmp_path):
    torch.manual_seed(0)
    model, critic = InversionNet(), Discriminator()
    optimizers = [torch.optim.AdamW(net.parameters(), lr=1e-4, betas=(0.0, 0.9)) for net in (model, critic)]
    for net, optimizer in zip((model, critic), optimizers):  # one update each: optimizer states with moments
        net(torch.rand(2, 5, 1000, 70) if net is model else torch.rand(2, 1, 70, 70)).mean().backward()
        optimizer.step()
    parts = {"model": model.state_dict(), "optimizer": optimizers[0].state_dict(), "critic": critic.state_dict()}
    run = Checkpoint(parts={**parts, "critic_optimizer": optimizers[1].state_dict()}, config={}, step=9, epoch=1)
    export_openfwi(model, 9, 1, tmp_path / "checkpoint.pth", gan=run)
    # gan_train.py --resume: torch.load, then model / model_d / optimizer_g / optimizer_d / lr_schedulers / epoch / step
    state = torch.load(tmp_path / "checkpoint.pth", map_location="cpu", weights_only=True)
    generator, discriminator = InversionNet(), OpenFWIDiscriminator()
    generator.load_state_dict(state["model"])
    discriminator.load_state_dict(state["model_d"])
    resumed = [torch.optim.AdamW(net.parameters(), lr=1e-4, betas=(0.0, 0.9)) for net in (generator, discriminator)]
    resumed[0].load_state_dict(state["optimizer_g"])
    resumed[1].load_state_dict(state["optimizer_d"])
    for optimizer, schedule in zip(resumed, state["lr_schedulers"]):
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[])
        scheduler.load_state_dict(schedule)
        assert scheduler.last_epoch == 9
    assert (state["epoch"], state["step"]) == (1, 9)
    for ours, theirs in zip(optimizers, resumed):
        exp_avg = [ours.state[p]["exp_avg"] for p in ours.param_groups[0]["params"]]
        assert all(
            torch.equal(a, theirs.state[p]["exp_avg"]) for a, p in zip(exp_avg, theirs.param_groups[0]["params"])
        )
    maps = torch.rand(2, 1, 70, 70)
    with torch.no_grad():
        torch.testing.assert_close(discriminator.eval()(maps), critic.eval()(maps), rtol=0, atol=0)
