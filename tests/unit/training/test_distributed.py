"""Data parallelism's rules in process: the sampler splits global batches exactly, and settings that cannot run data
parallel are refused (the torchrun runs: tests/tasks/train/test_torchrun.py)."""

import pytest

from fwilab.errors import ConfigError
from fwilab.training.distributed import init_distributed
from fwilab.training.sampler import ResumableShuffleSampler
from fwilab.training.train_settings import check_train
from helpers import compose_train


def test_ranks_split_each_global_batch_of_the_single_process_order():
    single = ResumableShuffleSampler(50, batch_size=8, seed=3)
    ranks = [ResumableShuffleSampler(50, batch_size=4, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for sampler in (single, *ranks):
        sampler.set_position(epoch=2, batch=1)
    order = list(single)
    assert len(order) == 5 * 8 and single.batches_per_epoch == ranks[0].batches_per_epoch == 6
    per_rank = [list(s) for s in ranks]
    for batch in range(5):
        assert order[batch * 8 : batch * 8 + 4] == per_rank[0][batch * 4 : batch * 4 + 4]
        assert order[batch * 8 + 4 : batch * 8 + 8] == per_rank[1][batch * 4 : batch * 4 + 4]
    assert set(per_rank[0]).isdisjoint(per_rank[1])


def test_distributed_false_refuses_several_processes_and_auto_takes_one_alone(monkeypatch):
    trainer = check_train(compose_train("trainer.device=cpu", "trainer.distributed=false")).trainer
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="WORLD_SIZE=2 .* with trainer.distributed=false: each would train alone"):
        init_distributed(trainer)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not init_distributed(check_train(compose_train("trainer.device=cpu")).trainer).active
    with pytest.raises(ConfigError, match="trainer.distributed='yes' must be auto, true or false"):
        check_train(compose_train("trainer.device=cpu", "trainer.distributed=yes"))


def test_train_mode_snapshots_with_synchronized_batchnorm_are_refused_when_data_parallel():
    with pytest.raises(ConfigError, match="diagnostics.mode=train with trainer.sync_batchnorm: only rank 0 snapshots"):
        check_train(compose_train("trainer.distributed=true", "diagnostics.mode=train"))
