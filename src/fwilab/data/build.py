"""Turn a ``data`` config into data sets and the normalizer that goes with them.

A data config names its files one of two ways: split files (``train_split`` / ``val_split``,
relative to ``root``), or the family's official OpenFWI layout under ``root`` (``layout``, see
``conf/data/layout/``). Subsets (``train_samples`` / ``val_samples``) are drawn with
``subset_seed``, not the training seed, so every seed of a comparison sees the same samples. A
config with a ``synthetic`` block describes a data set the generator makes under ``root`` on first
use; a real data root must exist (fwilab never creates one). Normalization constants come from the
config (every family's are OpenFWI's published ones, generated sets included); a config that leaves
them null reads them from the set's ``metadata.json``. ``build_data`` checks the samples a run uses
before it returns (``data.check``, see check.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fwilab.config.groups import DataSettings
from fwilab.data.check import check_data
from fwilab.data.openfwi import FilePair, OfficialLayout, OpenFWIDataset, official_pairs, read_split_file
from fwilab.data.synthetic.generate import GenerationPlan, ensure_dataset
from fwilab.data.transforms import Normalizer
from fwilab.errors import ConfigError, DataError

SPLITS = ("train", "val")


@dataclass
class DataBundle:
    train: OpenFWIDataset
    val: OpenFWIDataset
    normalizer: Normalizer


def prepare_root(cfg: DataSettings) -> Path:
    """The data root, generating the synthetic data set there first when the config describes one."""
    root = Path(cfg.root).expanduser()
    if cfg.synthetic is not None:
        synthetic = cfg.synthetic
        plan = GenerationPlan(
            family=synthetic.family,
            n_train=synthetic.n_train,
            n_val=synthetic.n_val,
            seed=synthetic.seed,
            samples_per_file=synthetic.samples_per_file,
        )
        ensure_dataset(root, plan, device=synthetic.device, batch_size=synthetic.batch_size)
    elif not root.is_dir():
        raise DataError(
            f"data.root={root} does not exist; fwilab never creates a real data folder: set data.root to the unpacked "
            "OpenFWI family folder"
        )
    return root


def _metadata(root: Path) -> dict[str, Any]:
    path = root / "metadata.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def normalizer_for(cfg: DataSettings, root: Path) -> Normalizer:
    """Normalization constants from the config, or from the data set's metadata.json where the config leaves them null."""
    metadata = _metadata(root)
    values = {}
    for key in ("data_min", "data_max", "vel_min", "vel_max"):
        value = getattr(cfg, key)
        if value is None:
            value = metadata.get(key)
        if value is None:
            raise ConfigError(f"data.{key} is not set and {root / 'metadata.json'} does not give it")
        values[key] = float(value)
    if values["data_min"] >= values["data_max"] or values["vel_min"] >= values["vel_max"]:
        raise ConfigError(f"data ranges must increase: got {values}")
    return Normalizer(**values)


def split_pairs(cfg: DataSettings, root: Path, split: str) -> list[FilePair]:
    """File pairs of ``split`` ('train' or 'val')."""
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not one of {SPLITS}")
    split_file = getattr(cfg, f"{split}_split")
    if split_file:
        path = Path(split_file).expanduser()
        return read_split_file(path if path.is_absolute() else root / path, root)
    layout = cfg.layout
    if not layout:
        raise ConfigError(f"data.{split}_split or data.layout must say where the {split} files are")
    return official_pairs(root, layout_from_config(layout), split)


def layout_from_config(layout: dict[str, Any]) -> OfficialLayout:
    """``data.layout`` (a file in conf/data/layout/) as an OfficialLayout."""
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in layout.items()}
    try:
        return OfficialLayout(**values)
    except TypeError:
        raise ConfigError(f"data.layout={values} needs pattern, train, val (and groups for 'fault') only") from None


def build_split(cfg: DataSettings, split: str, root: Path | None = None) -> OpenFWIDataset:
    """One split, subset to ``data.<split>_samples`` (drawn with ``data.subset_seed``) when that is set."""
    root = root if root is not None else prepare_root(cfg)
    count = getattr(cfg, f"{split}_samples")
    try:
        return OpenFWIDataset(split_pairs(cfg, root, split), count=count, seed=cfg.subset_seed)
    except DataError as error:
        raise DataError(f"data.{split}: {error}") from None


def build_data(cfg: DataSettings) -> DataBundle:
    """Train and validation sets plus their normalizer, generating synthetic data when needed and checking
    every sample they use before any training (``data.check``)."""
    root = prepare_root(cfg)
    data = DataBundle(
        train=build_split(cfg, "train", root),
        val=build_split(cfg, "val", root),
        normalizer=normalizer_for(cfg, root),
    )
    for split in SPLITS:
        if not getattr(data, split).labelled:
            raise DataError(f"data.{split}: its split file lists gathers without velocity files; training needs both")
    check_data({"train": data.train, "val": data.val}, data.normalizer, cfg.check)
    return data
