"""training.trained_model: what a task on a saved model loads, and the tags its W&B run gets."""

import pytest
from omegaconf import DictConfig, OmegaConf

from fwilab.errors import ConfigError
from fwilab.training.trained_model import load_trained, model_tags
from helpers.references import write_openfwi_checkpoint


def test_tags_name_the_model_the_optimizer_and_the_family():
    config = OmegaConf.create(
        {
            "model": {"_target_": "fwilab.models.InversionNet"},
            "optimizer": {"_target_": "torch.optim.AdamW", "lr": 1e-3},
            "data": {"family": "flatvel_a"},
        }
    )
    assert model_tags(config) == ["InversionNet", "adamw", "flatvel_a"]


def test_a_model_read_from_an_openfwi_checkpoint_has_no_optimizer_tag():
    config = OmegaConf.create({"model": {"_target_": "fwilab.models.InversionNet"}, "data": {"family": "curvefault_a"}})
    assert model_tags(config) == ["InversionNet", "curvefault_a"]


def _task(checkpoint, **named) -> DictConfig:
    return OmegaConf.create(
        {"checkpoint": str(checkpoint), "split": "val", "device": "cpu", "normalization": "checkpoint", **named}
    )


def test_an_openfwi_checkpoint_is_refused_until_the_model_and_data_are_named(tmp_path):
    write_openfwi_checkpoint(tmp_path / "checkpoint.pth")
    with pytest.raises(ConfigError, match=r"checkpoint.pth is an OpenFWI checkpoint \(model InversionNet, dataset "
                       r"curvefault-a\): name the model and data"):  # fmt: skip
        load_trained(_task(tmp_path / "checkpoint.pth", model=None, data=None))
