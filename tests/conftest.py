"""Shared fixtures: a tiny generated data set and composed configs pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fwilab.data.synthetic.generate import GenerationPlan, generate_dataset


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """fwilab's cache (generated sets, data-check results) in a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("fwilab_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FWILAB_DATA_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session", autouse=True)
def private_wandb_settings(tmp_path_factory) -> Path:
    """W&B's settings files (the workspace ``wandb/settings`` and the global one) in a temporary folder: a developer's
    ``wandb online`` or ``wandb login`` must not make the suite contact a server, nor the suite write to theirs."""
    folder = tmp_path_factory.mktemp("wandb_settings")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_DIR", str(folder))
        patch.setenv("WANDB_CONFIG_DIR", str(folder / "config"))
        patch.delenv("WANDB_MODE", raising=False)
        yield folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """16 train + 8 val CurveFault-A-like samples in files of 8, made by the real generator."""
    out = tmp_path_factory.mktemp("data") / "tiny"
    generate_dataset(
        out, GenerationPlan("curvefault_a", n_train=16, n_val=8, seed=3, samples_per_file=8), progress=False
    )
    return out
