"""Each config group's check returns a frozen value holding the YAML's defaults, and refuses a wrong value naming the
key and the value (the YAML files under conf/ are the reference)."""

from dataclasses import fields

import pytest
from omegaconf import OmegaConf

from fwilab.config.checks import read_group
from fwilab.config.groups import (
    DiagnosticsSettings,
    LoggerSettings,
    PhysicsSettings,
    RefineSettings,
    TrainerSettings,
    WandbSettings,
    read_data,
    read_diagnostics,
    read_logger,
)
from fwilab.errors import ConfigError
from helpers import CONF, compose_train


def _yaml(path: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF / path), resolve=False)


@pytest.mark.parametrize(
    "schema, path",
    [(TrainerSettings, "trainer/default.yaml"), (PhysicsSettings, "physics/default.yaml")],
)
def test_a_group_holds_its_yaml_defaults(schema, path):
    value = read_group("group", OmegaConf.load(CONF / path), schema)
    assert {item.name: getattr(value, item.name) for item in fields(value)} == _yaml(path)


def test_diagnostics_hold_their_yaml_defaults_and_off_needs_nothing_else():
    value = read_diagnostics("diagnostics", OmegaConf.load(CONF / "diagnostics" / "default.yaml"))
    expected = {key: tuple(v) if isinstance(v, list) else v for key, v in _yaml("diagnostics/default.yaml").items()}
    assert vars(value) == expected
    off = read_diagnostics("diagnostics", OmegaConf.load(CONF / "diagnostics" / "off.yaml"))
    assert isinstance(off, DiagnosticsSettings) and off.enabled is False and off.max_samples is None


def test_the_logger_backend_says_which_settings_follow():
    assert type(read_logger("logger", compose_train("logger=none").logger)) is LoggerSettings
    wandb = read_logger("logger", compose_train("logger=wandb").logger)
    assert isinstance(wandb, WandbSettings) and wandb.tags == () and wandb.init_timeout_s == 30
    with pytest.raises(ConfigError, match="logger.backend='tensorboard' is not 'wandb' or 'none'"):
        read_logger("logger", OmegaConf.create({"backend": "tensorboard"}))


def test_the_default_data_holds_its_generation_settings():
    cfg = compose_train()
    data = read_data(cfg.data)
    assert data.root == cfg.data.root and data.check == "error" and data.layout is None
    assert data.synthetic.family == "curvefault_a" and data.synthetic.n_train == 1000
    assert read_data(compose_train("data=flatvel_a", "data.root=/d").data).layout == dict(
        OmegaConf.to_container(compose_train("data=flatvel_a", "data.root=/d").data.layout, resolve=True)
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.check=strict", "data.check='strict' is not one of error, warn, off"),
        ("data.synthetic.n_train=0", "data.synthetic.n_train=0 must be a whole number of at least 1"),
        ("data.vel_min=-1", "data.vel_min=-1 must be a positive number"),
    ],
)
def test_a_wrong_data_value_is_refused_naming_key_and_value(override, message):
    with pytest.raises(ConfigError) as refused:
        read_data(compose_train(override).data)
    assert str(refused.value) == message


def test_refinement_settings_hold_refine_yaml_defaults():
    value = read_group("", OmegaConf.load(CONF / "refine.yaml"), RefineSettings, closed=False)
    assert value == RefineSettings(
        iterations=100,
        step_ms=150.0,
        frequencies_hz=(5.0, 10.0, None),
        smoothing_cells=1.0,
        depth_scaling=1.0,
        gradient_sampling_interval=10,
        record_s=0.8,
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"frequencies_hz": [None, 5.0]}, "frequencies_hz=[None, 5.0]: the full band (null) can only come last"),
        ({"smoothing_cells": -1.0}, "smoothing_cells=-1.0 must be 0 (no smoothing) or positive"),
        (
            {"gradient_sampling_interval": 20},
            "gradient_sampling_interval=20 must be a whole number of time steps from 1 to 10 "
            "(coarser sampling aliases the 15 Hz wavefields' gradient)",
        ),
        (
            {"gradient_sampling_interval": 0},
            "gradient_sampling_interval=0 must be a whole number of time steps from 1 to 10 "
            "(coarser sampling aliases the 15 Hz wavefields' gradient)",
        ),
        ({"record_s": 0.0}, "record_s=0.0 must be a positive time in s (null: all)"),
    ],
)
def test_a_wrong_refinement_value_is_refused_naming_key_and_value(change, message):
    node = OmegaConf.merge(OmegaConf.load(CONF / "refine.yaml"), change)
    with pytest.raises(ConfigError) as refused:
        read_group("", node, RefineSettings, closed=False)
    assert str(refused.value) == message
