"""A task's config as one value: typed groups, the _target_ groups kept as config, the composed config kept."""

import pytest
from omegaconf import DictConfig

from fwilab.config.groups import DataSettings, RefineSettings, TrainerSettings
from fwilab.config.tasks import RefineTaskSettings, TrainSettings, read_settings, read_train
from fwilab.errors import ConfigError
from helpers import compose_train, refine_config


def test_train_yaml_reads_as_typed_groups_and_keeps_its_config():
    cfg = compose_train("trainer.max_steps=7")
    settings = read_train(cfg)
    assert isinstance(settings, TrainSettings) and settings.config is cfg
    assert isinstance(settings.trainer, TrainerSettings) and settings.trainer.max_steps == 7
    assert isinstance(settings.data, DataSettings) and settings.seed == 0 and settings.optimized_metric is None
    assert isinstance(settings.optimizer, DictConfig) and settings.optimizer._target_ == "torch.optim.AdamW"


def test_train_yaml_refuses_what_is_wrong_only_in_combination():
    with pytest.raises(
        ConfigError, match=r"trainer.epochs=None must be a whole number .* \(or set trainer.max_steps\)"
    ):
        read_train(compose_train("trainer.epochs=null"))
    assert read_train(compose_train("trainer.epochs=null", "trainer.max_steps=3")).trainer.epochs is None


def test_the_refine_task_value_is_the_refinements_settings(tmp_path):
    settings = read_settings(refine_config(tmp_path / "model.pt", iterations=3), RefineTaskSettings)
    assert isinstance(settings, RefineSettings) and settings.iterations == 3
    assert settings.frequencies_hz == (5.0, 10.0, None) and settings.baseline.top_ms is None


def test_train_mode_snapshots_are_refused_up_front_only_where_data_parallel_is_asked_for():
    with pytest.raises(ConfigError, match="diagnostics.mode=train with trainer.sync_batchnorm"):
        read_train(compose_train("trainer.distributed=true", "diagnostics.mode=train"))
    assert read_train(compose_train("diagnostics.mode=train")).trainer.distributed == "auto"  # train() decides
