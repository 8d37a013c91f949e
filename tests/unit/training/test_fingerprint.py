"""The run fingerprint: what a resume must keep (the optimizer, schedule and loss included), read also from the
config of a checkpoint whose fingerprint covered less."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fwilab.errors import CheckpointError
from fwilab.training.fingerprint import check_fingerprint, settings_fingerprint
from helpers import compose_train
from helpers.checkpoint_formats import PRE_MANAGER_FINGERPRINT

PATH = Path("run/checkpoints/step_00000004.pt")


def _config(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_train("data.root=/data/cfa", *overrides), resolve=True)


def test_the_settings_a_run_depends_on_are_in_it_and_where_its_weights_came_from_is_not():
    fingerprint = settings_fingerprint(_config("optimizer=adam", "lr=0.01"))
    assert fingerprint["optimizer._target_"] == "torch.optim.Adam" and fingerprint["optimizer.lr"] == 0.01
    assert fingerprint["scheduler._target_"] == "fwilab.training.schedules.warmup_cosine"
    assert fingerprint["loss.lambda_g2v"] == 1.0 and fingerprint["data.root"] == "/data/cfa"
    assert settings_fingerprint(_config("+model.init_from=/x/best.pt")) == settings_fingerprint(_config())
    assert settings_fingerprint(_config("trainer.num_workers=3")) == settings_fingerprint(_config())


def test_the_objective_is_in_it_and_where_a_critic_came_from_is_not():
    supervised, gan = settings_fingerprint(_config()), settings_fingerprint(_config("objective=velocitygan"))
    assert supervised["objective.name"] == "supervised" and gan["objective.name"] == "velocitygan"
    with pytest.raises(CheckpointError, match="objective.name is 'supervised' there and 'velocitygan' now"):
        check_fingerprint(supervised, _config(), gan, PATH)
    started = settings_fingerprint(_config("objective=velocitygan", "objective.critic_init_from=/x/gan.pth"))
    assert started == gan
    before_objectives = {key: value for key, value in _config().items() if key != "objective"}
    assert settings_fingerprint(before_objectives) == supervised  # a config saved before the group trained supervised


def test_an_older_fingerprint_is_completed_from_the_checkpoints_config():
    """A checkpoint of an fwilab whose fingerprint had no optimizer keys: its config says what it ran with."""
    then = _config()
    older = {key: value for key, value in settings_fingerprint(then).items() if key.startswith(PRE_MANAGER_FINGERPRINT)}
    assert "optimizer.lr" not in older
    check_fingerprint(older, then, settings_fingerprint(_config()), PATH)  # the same run: accepted
    with pytest.raises(CheckpointError, match=r"step_00000004\.pt: optimizer\.lr is 0\.001 there and 0\.01 now; "):
        check_fingerprint(older, then, settings_fingerprint(_config("lr=0.01")), PATH)


def test_the_first_changed_key_is_named_with_both_values_and_the_others_counted():
    saved = settings_fingerprint(_config())
    with pytest.raises(
        CheckpointError,
        match=r"optimizer\._target_ is 'torch\.optim\.AdamW' there and 'torch\.optim\.Adam' now "
        r"\(and 1 more: optimizer\.lr\); resume with the same settings",
    ):
        check_fingerprint(saved, _config(), settings_fingerprint(_config("optimizer=adam", "lr=0.01")), PATH)
