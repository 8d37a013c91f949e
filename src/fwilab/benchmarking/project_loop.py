"""The project's own training loop in one configuration, and what activation snapshots cost it."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from fwilab.training.loop import train
from fwilab.training.train_settings import check_train


def loop_throughput(
    train_cfg: DictConfig,
    root: Path,
    run_dir: Path,
    overrides: dict[str, Any],
    steps: int,
    warmup: int,
    snapshot_every: int | None,
) -> dict[str, Any]:
    """Samples/s of the project's loop in one configuration (steady state: log intervals after warm-up)."""
    cfg = OmegaConf.merge(train_cfg, {"trainer": overrides})
    with open_dict(cfg):
        cfg.data.root = str(root)
        cfg.data.train_split = "train.txt"
        cfg.data.val_split = "val.txt"
        cfg.data.check = "off"  # random data (write_random_split): validation reads the training file on purpose
        cfg.data.val_samples = min(
            cfg.trainer.eval_batch_size, len(np.load(root / "model" / "model1.npy", mmap_mode="r"))
        )
        cfg.trainer.max_steps = warmup + steps
        cfg.trainer.log_every_steps = max(1, warmup)
        cfg.trainer.val_every_steps = 10**9
        cfg.trainer.checkpoint_every_steps = 10**9
        cfg.trainer.resume = "never"
        cfg.logger = {"backend": "none"}
        cfg.diagnostics.enabled = snapshot_every is not None
        cfg.diagnostics.every_n_steps = snapshot_every or 0
    record = train(check_train(cfg), run_dir)
    steady = [rate for step, rate in record["train_throughput"] if step > warmup]
    return {
        "samples_per_s": statistics.fmean(steady),
        "wall_time_s": record["wall_time_s"],
        "snapshot_blocked_s": record["snapshot_blocked_s"],
        "steps": warmup + steps,
    }


def snapshot_overhead(
    plain: dict[str, Any], with_snapshots: dict[str, Any], every: int, batch_size: int
) -> dict[str, Any]:
    """The cost of snapshots every ``every`` steps, as a share of training time, in two parts
    (``plain`` and ``with_snapshots``: the same configuration and number of steps).

    * blocked: the training thread's own time per snapshot (capture, waiting for the worker thread's
      rendering, logging), timed in the loop, median over the snapshots taken during training (the
      one after the last step is rendered with nothing left to overlap), spread over ``every`` steps;
    * slower steps: steady-state samples/s without snapshots over samples/s with them (the worker
      thread competes for the host), minus one. This part is noisy at small step counts.
    Run wall times are reported too, but they carry start-up and compilation time.
    """
    blocked = with_snapshots["snapshot_blocked_s"]
    during = [seconds for step, seconds in blocked if step < with_snapshots["steps"]] or [
        seconds for _, seconds in blocked
    ]
    per_snapshot = statistics.median(during)
    step_seconds = batch_size / plain["samples_per_s"]
    blocked_share = per_snapshot / (every * step_seconds)
    slower_steps = plain["samples_per_s"] / with_snapshots["samples_per_s"] - 1
    return {
        "every_n_steps": every,
        "snapshots_taken": len(blocked),
        "blocked_seconds_per_snapshot": per_snapshot,
        "seconds_per_step": step_seconds,
        "blocked_share": blocked_share,
        "slower_steps": slower_steps,
        "overhead": blocked_share + slower_steps,
        "wall_time_without_s": plain["wall_time_s"],
        "wall_time_with_s": with_snapshots["wall_time_s"],
    }
