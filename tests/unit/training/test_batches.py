"""Starting a loader's epoch leaves the process's random generators alone: a checkpoint restores them, and a step that
draws from them (a GAN's gradient penalty) must see the same numbers after a resume, which starts a new epoch
iterator mid-epoch where an uninterrupted run does not."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from fwilab.training.batches import worker_settings


def test_starting_an_epoch_draws_nothing_from_torchs_generator():
    loader = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4, **worker_settings(0))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    for _ in range(3):
        next(iter(loader))
    assert torch.equal(torch.get_rng_state(), before)
    plain = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4)  # torch's default: it draws a seed per epoch
    next(iter(plain))
    assert not torch.equal(torch.get_rng_state(), before)
