"""Shared fixtures: a tiny generated data set and composed configs pointing at it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict

from fwilab.data.synthetic.generate import GenerationPlan, generate_dataset

ROOT = Path(__file__).resolve().parents[1]
CONF = Path(str(resources.files("fwilab.conf")))  # where the product reads its configs (the package)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """fwilab's cache (generated sets, data-check results) in a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("fwilab_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FWILAB_DATA_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """16 train + 8 val CurveFault-A-like samples in files of 8, made by the real generator."""
    out = tmp_path_factory.mktemp("data") / "tiny"
    generate_dataset(
        out, GenerationPlan("curvefault_a", n_train=16, n_val=8, seed=3, samples_per_file=8), progress=False
    )
    return out


def compose_train(*overrides: str) -> DictConfig:
    """The train.yaml config with ``overrides``, as `scripts/train.py` would see it."""
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def tiny_train_config(data_root: Path, *overrides: str) -> DictConfig:
    """A fast training config on ``data_root`` (a generated data set): small model, few steps, CPU."""
    cfg = compose_train(
        "model=reconstruction",
        "model.base_channels=8",
        "trainer.device=cpu",
        "trainer.batch_size=4",
        "trainer.eval_batch_size=8",
        "trainer.log_every_steps=2",
        "scheduler.warmup_steps=2",
        *overrides,
    )
    with open_dict(cfg):
        cfg.data.root = str(data_root)
        cfg.data.family = cfg.data.synthetic.family  # the generated set's family, kept once generation is off
        cfg.data.synthetic = None
    return cfg
