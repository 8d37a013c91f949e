"""The checkpoint manager: named parts saved and given back, cadence, retention, files of earlier versions."""

import os

import pytest
import torch
from torch import nn

from fwilab.errors import CheckpointError
from fwilab.training.checkpoint import RunIdentity
from fwilab.training.checkpoint_manager import CheckpointManager
from fwilab.training.distributed import DistributedContext
from fwilab.training.randomness import RandomStates
from fwilab.training.record import IntervalMeter
from helpers.checkpoint_formats import write_pre_manager_checkpoint

IDENTITY = RunIdentity(config={"seed": 0}, fingerprint={"seed": 0}, normalizer={"vel_min": 1500.0})


def _trained(module: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """One update, so the weights and the optimizer's moments are not those of a fresh pair."""
    module(torch.randn(4, module.in_features)).square().sum().backward()
    optimizer.step()


def _parts(seed: int, critic: bool = True) -> dict:
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    parts = {"model": model, "optimizer": torch.optim.AdamW(model.parameters(), lr=0.1)}
    if critic:  # a GAN's second network and its optimizer: two more entries
        parts["critic"] = nn.Linear(2, 1)
        parts["critic_optimizer"] = torch.optim.SGD(parts["critic"].parameters(), lr=0.1, momentum=0.9)
    parts["meter"] = IntervalMeter(torch.device("cpu"), samples_per_step=4)
    parts["rng"] = RandomStates()
    return parts


def _manager(folder, parts, every_steps=3, keep_last=2) -> CheckpointManager:
    return CheckpointManager(folder, parts, IDENTITY, every_steps, steps_per_epoch=4, keep_last=keep_last)


def _same(a: dict, b: dict) -> bool:
    """Two state dicts hold the same values (tensors bit for bit)."""
    if a.keys() != b.keys():
        return False
    return all(
        _same(x, y) if isinstance(x, dict) else torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y
        for x, y in ((a[key], b[key]) for key in a)
    )


def _used(parts: dict) -> dict:
    """``parts`` after an update of each network and two loss values metered: states unlike a fresh run's."""
    _trained(parts["model"], parts["optimizer"])
    if "critic" in parts:
        _trained(parts["critic"], parts["critic_optimizer"])
    parts["meter"].add({"loss": torch.tensor(0.25), "critic_loss": torch.tensor(2.0)})
    parts["meter"].add({"loss": torch.tensor(0.5)})  # a loss some steps return (a GAN's generator loss)
    return parts


def test_every_part_is_saved_under_its_name_and_given_back_its_state(tmp_path):
    saved = _used(_parts(seed=0))
    _manager(tmp_path, saved).save(step=6)
    stored = torch.load(tmp_path / "step_00000006.pt", weights_only=True)
    assert set(stored) == {"model", "optimizer", "critic", "critic_optimizer", "meter", "rng"} | {
        "config",
        "step",
        "epoch",
        "normalizer",
        "fingerprint",
    }
    assert (stored["step"], stored["epoch"]) == (6, 1)
    random_after_save = torch.rand(3)
    fresh = _parts(seed=1)
    assert not _same(fresh["critic"].state_dict(), saved["critic"].state_dict())
    assert _manager(tmp_path, fresh).resume("auto", DistributedContext()) == 6
    for name in ("model", "optimizer", "critic", "critic_optimizer"):
        assert _same(fresh[name].state_dict(), saved[name].state_dict()), name
    assert (fresh["meter"].loss_sum.item(), fresh["meter"].steps) == (0.75, 2)
    assert fresh["meter"].close_named(lambda total: total, sorted) == {"loss": 0.375, "critic_loss": 2.0}
    assert torch.equal(torch.rand(3), random_after_save)  # the random states are those at the save


def test_a_pre_manager_file_resumes_every_part(tmp_path):
    """Files of the flat layout fwilab wrote before the manager (helpers.checkpoint_formats) still resume."""
    saved = _used(_parts(seed=0, critic=False))
    state = _manager(tmp_path / "new", saved).checkpoint(step=3).to_dict()
    (tmp_path / "old").mkdir()
    write_pre_manager_checkpoint(tmp_path / "old" / "step_00000003.pt", state)
    fresh = _parts(seed=1, critic=False)
    assert _manager(tmp_path / "old", fresh).resume("auto", DistributedContext()) == 3
    assert _same(fresh["optimizer"].state_dict(), saved["optimizer"].state_dict())
    assert _same(fresh["model"].state_dict(), saved["model"].state_dict())
    assert (fresh["meter"].loss_sum.item(), fresh["meter"].steps) == (0.75, 2)


def test_a_checkpoint_is_due_at_every_validation_and_every_n_steps(tmp_path):
    manager = _manager(tmp_path, _parts(seed=0), every_steps=3)
    assert [step for step in range(1, 10) if manager.due(step, validates=False)] == [3, 6, 9]
    assert manager.due(4, validates=True)


def test_the_newest_step_files_are_kept_and_last_links_to_the_newest(tmp_path):
    manager = _manager(tmp_path, _parts(seed=0), keep_last=2)
    for step in range(1, 6):
        manager.save(step)
    manager.save_best(2)
    assert sorted(p.name for p in tmp_path.glob("step_*.pt")) == ["step_00000004.pt", "step_00000005.pt"]
    assert os.readlink(tmp_path / "last.pt") == "step_00000005.pt"
    assert torch.load(tmp_path / "best.pt", weights_only=True)["step"] == 2
    weights = torch.load(manager.export_best_weights(), weights_only=True)
    assert set(weights) == {"model", "config", "step", "normalizer", "fingerprint"}


def test_a_checkpoint_without_a_part_of_this_run_is_refused_naming_it(tmp_path):
    _manager(tmp_path, _used(_parts(seed=0, critic=False))).save(step=3)
    with pytest.raises(CheckpointError, match=r"step_00000003\.pt: it holds no critic, critic_optimizer \(saved by"):
        _manager(tmp_path, _parts(seed=1)).resume("auto", DistributedContext())


def test_a_part_that_does_not_fit_is_named(tmp_path):
    _manager(tmp_path, {"model": nn.Linear(3, 2)}).save(step=3)
    with pytest.raises(CheckpointError, match=r"step_00000003\.pt: its model does not load: size mismatch for bias"):
        _manager(tmp_path, {"model": nn.Linear(3, 5)}).resume("auto", DistributedContext())


def test_a_part_may_not_take_a_name_of_the_runs_own_keys(tmp_path):
    with pytest.raises(ValueError, match=r"\['step'\] are the run's own keys"):
        _manager(tmp_path, {"model": nn.Linear(3, 2), "step": nn.Linear(3, 2)})
