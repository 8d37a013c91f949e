"""training.trained_model: the tags and the W&B config of a task on a loaded model."""

from omegaconf import OmegaConf

from fwilab.training.trained_model import model_tags


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
