"""check_train: train.yaml's value and what the model it builds rules out; train() takes nothing else."""

import pytest

from fwilab.config.tasks import TrainSettings
from fwilab.errors import ConfigError
from fwilab.training.loop import train
from fwilab.training.train_settings import check_train
from helpers import compose_train


def test_check_train_returns_the_checked_settings():
    assert isinstance(check_train(compose_train("model=reconstruction")), TrainSettings)


def test_a_batch_of_one_is_refused_for_a_model_with_batchnorm():
    with pytest.raises(ConfigError, match="trainer.batch_size=1 must be at least 2: BatchNorm"):
        check_train(compose_train("trainer.batch_size=1"))


def test_train_refuses_an_unchecked_config_before_any_work(tmp_path):
    with pytest.raises(TypeError, match="train\\(\\) takes the checked settings .* not a DictConfig"):
        train(compose_train("logger=none"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
