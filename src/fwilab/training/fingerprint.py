"""What a run depends on, recorded in its checkpoints so that a resume into a different experiment is refused."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fwilab.data.build import DataBundle
from fwilab.data.openfwi import OpenFWIDataset
from fwilab.errors import CheckpointError


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


def run_fingerprint(cfg: DictConfig, data: DataBundle, global_batch: int, total_steps: int) -> dict[str, Any]:
    """Seed, model config, data root, files and subset indices, normalizer, batch size and budget."""
    model = {key: value for key, value in OmegaConf.to_container(cfg.model, resolve=True).items() if key != "init_from"}
    return {
        "seed": cfg.seed,
        **_flatten("model", model),
        "data.root": str(Path(str(cfg.data.root)).expanduser().resolve()),
        "data.train": split_digest(data.train),
        "data.val": split_digest(data.val),
        **_flatten("normalizer", asdict(data.normalizer)),
        "batch_size": global_batch,
        "total_steps": total_steps,
    }


def check_fingerprint(saved: dict[str, Any] | None, current: dict[str, Any], path: Path) -> None:
    """A CheckpointError naming the first differing key and both values, unless the run is the same."""
    if saved is None:
        raise CheckpointError(
            f"{path} records no run fingerprint (an older fwilab made it): start over with trainer.resume=never"
        )
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
