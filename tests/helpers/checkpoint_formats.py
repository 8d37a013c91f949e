"""Checkpoint layouts of earlier fwilab versions, written from a current checkpoint's content, so that tests read
them without committing binary files."""

from pathlib import Path
from typing import Any

import torch

# The pre-manager layout: the top-level keys of every training checkpoint fwilab wrote before the checkpoint
# manager (up to commit 55ddcd8), read off a file that version wrote. The interval meter's state was spread over
# running_loss / running_steps; everything else is one key per part or per fact, as today.
PRE_MANAGER_KEYS = {
    "model", "config", "step", "epoch", "normalizer", "fingerprint",
    "optimizer", "scheduler", "scaler", "rng", "running_loss", "running_steps", "record",
}  # fmt: skip
# What that version's run fingerprint covered (key prefixes): not the optimizer, schedule, loss or gradient clipping.
PRE_MANAGER_FINGERPRINT = ("seed", "model.", "data.", "normalizer.", "batch_size", "total_steps")


def write_pre_manager_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """``state`` (a checkpoint file's content as fwilab writes it now) written to ``path`` in the pre-manager layout."""
    flat = {key: value for key, value in state.items() if key != "meter"}
    flat["running_loss"], flat["running_steps"] = state["meter"]["loss_sum"], state["meter"]["steps"]
    flat["fingerprint"] = {
        key: value for key, value in state["fingerprint"].items() if key.startswith(PRE_MANAGER_FINGERPRINT)
    }
    assert set(flat) <= PRE_MANAGER_KEYS, set(flat) - PRE_MANAGER_KEYS  # a part that layout did not have
    torch.save(flat, path)
    return path
