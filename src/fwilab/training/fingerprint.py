"""What a run depends on, recorded in its checkpoints so that a resume into a different experiment is refused.

The fingerprint covers the seed, the model (but where its first weights came from, its critic's too), the optimizer and its
settings, the learning-rate schedule, the loss, the training objective and its settings, gradient clipping, the data (root, files, subsets, normalization),
the global batch size and the step budget. Everything else may change on resume: the device and the fast-path
switches, workers, the validation, logging and checkpoint cadence, retention, the logger and the diagnostics.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fwilab.data.build import DataBundle
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.errors import CheckpointError

SETTINGS_GROUPS = ("model", "optimizer", "scheduler", "loss", "objective")  # a resume keeps every key of each
BEFORE_OBJECTIVES = {"objective": {"name": "supervised"}}  # what a config saved before the objective group trained


def split_digest(dataset: OpenFWIDataset) -> str:
    """'<n> samples of <k> files, sha256 <8 hex>' over the file paths and the subset's indices."""
    digest = hashlib.sha256()
    for pair in dataset.pairs:
        digest.update(f"{pair.seismic}\t{pair.velocity}\n".encode())
    digest.update(dataset.indices.astype("int64").tobytes())
    return f"{len(dataset)} samples of {len(dataset.pairs)} files, sha256 {digest.hexdigest()[:8]}"


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {key: item for name, entry in value.items() for key, item in _flatten(f"{prefix}.{name}", entry).items()}
    return {prefix: value}


def settings_fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint's part read from a resolved config (a run's now, or the one a checkpoint carries)."""
    groups = {group: dict(config.get(group, BEFORE_OBJECTIVES.get(group))) for group in SETTINGS_GROUPS}
    for entries in groups.values():  # where first weights came from (model, critic): a resume continues its own
        for key in [key for key in entries if key.endswith("init_from")]:
            entries.pop(key)
    return {
        "seed": config["seed"],
        **{key: value for group, entries in groups.items() for key, value in _flatten(group, entries).items()},
        "trainer.grad_clip_norm": config["trainer"].get("grad_clip_norm"),
        "data.root": str(Path(str(config["data"]["root"])).expanduser().resolve()),
    }


def run_fingerprint(cfg: DictConfig, data: DataBundle, global_batch: int, total_steps: int) -> dict[str, Any]:
    """The settings (``settings_fingerprint``), the data's files and subset indices, normalizer, batch and budget."""
    return {
        **settings_fingerprint(OmegaConf.to_container(cfg, resolve=True)),
        "data.train": split_digest(data.train),
        "data.val": split_digest(data.val),
        **_flatten("normalizer", asdict(data.normalizer)),
        "batch_size": global_batch,
        "total_steps": total_steps,
    }


def check_fingerprint(
    saved: dict[str, Any] | None, saved_config: dict[str, Any], current: dict[str, Any], path: Path
) -> None:
    """A CheckpointError naming the first differing key and both values, unless the run is the same. A key that an
    older checkpoint's fingerprint lacks is read from the config it carries."""
    if saved is None:
        raise CheckpointError(
            f"{path} records no run fingerprint (an older fwilab made it): start over with trainer.resume=never"
        )
    missing = [key for key in current if key not in saved]
    if missing:  # a checkpoint of an fwilab whose fingerprint covered less: its config says what it ran with
        from_config = settings_fingerprint(saved_config)
        saved = {**saved, **{key: from_config[key] for key in missing if key in from_config}}
    differing = [key for key in {**saved, **current} if saved.get(key) != current.get(key)]
    if differing:
        key, more = (
            differing[0],
            f" (and {len(differing) - 1} more: {', '.join(differing[1:])})" if len(differing) > 1 else "",
        )
        raise CheckpointError(
            f"cannot resume from {path}: {key} is {saved.get(key)!r} there and {current.get(key)!r} now{more}; "
            "resume with the same settings, or start over with trainer.resume=never"
        )
