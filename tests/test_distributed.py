"""Data parallelism: the sampler splits global batches exactly; torchrun with 2 CPU processes (gloo)
matches one process with the same global batch."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from fwilab.training.sampler import ResumableShuffleSampler

pytestmark = pytest.mark.slow


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


def _args(data_root: Path, run_dir: Path) -> list[str]:
    return [
        "data=curvefault_a", f"data.root={data_root}", "data.train_split=train.txt", "data.val_split=val.txt",
        "model=reconstruction", "model.base_channels=8", "trainer.device=cpu", "trainer.max_steps=6",
        "trainer.log_every_steps=2", "trainer.val_every_steps=3", "logger=none", "diagnostics.every_n_steps=3",
        f"hydra.run.dir={run_dir}",
    ]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tiny_dataset, tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = subprocess.run(
        [*torchrun, str(ROOT / "scripts" / "train.py"), "trainer=ddp", "trainer.batch_size=4", *_args(tiny_dataset, tmp_path / "ddp")],
        capture_output=True, text=True, timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "trainer.batch_size=8", *_args(tiny_dataset, tmp_path / "single")],
        capture_output=True, text=True, timeout=600,
    )
    assert single.returncode == 0, single.stderr
    parallel = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    alone = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert parallel["world_size"] == 2 and parallel["batch_size"] == alone["batch_size"] == 8
    assert parallel["val_samples"] == alone["val_samples"] == 8
    for key in ("mae", "rmse", "ssim"):
        assert parallel["final"][key] == pytest.approx(alone["final"][key], rel=0.01)
    for (step, loss), (same_step, same_loss) in zip(parallel["train_loss"], alone["train_loss"]):
        assert step == same_step and loss == pytest.approx(same_loss, rel=0.1)  # BatchNorm over 4 vs 8 samples on CPU
    assert sorted(p.name for p in (tmp_path / "ddp" / "activations").iterdir()) == ["step_000003", "step_000006"]
    weights = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert not any(key.startswith("module.") for key in weights)  # saved from the plain module
    log = (tmp_path / "ddp" / "train.log").read_text()
    assert log.count("val MAE") == 2  # rank 0 reports once for everyone
