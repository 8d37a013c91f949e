"""The check machinery: a group's dataclass read from a config node as a frozen value, or one refusal naming the key."""

from dataclasses import FrozenInstanceError, dataclass

import pytest
from omegaconf import OmegaConf

from fwilab.config.checks import choice, kind, may_be_absent, read_group, whole
from fwilab.errors import ConfigError


@dataclass(frozen=True)
class Example:
    CONFIG = "example.yaml"
    count: int = whole()
    flag: bool = choice(("auto", True, False))
    names: tuple[str, ...] = kind(object, "anything")
    extra: int | None = may_be_absent(whole(minimum=0))


def _node(**values):
    return OmegaConf.create({"count": 3, "flag": "auto", "names": ["a", "b"], **values})


def test_a_group_reads_as_a_frozen_value_with_lists_as_tuples():
    value = read_group("example", _node(extra=0), Example)
    assert value == Example(count=3, flag="auto", names=("a", "b"), extra=0)
    with pytest.raises(FrozenInstanceError):
        value.count = 4


def test_a_key_that_may_be_absent_holds_none():
    assert read_group("example", _node(), Example).extra is None


@pytest.mark.parametrize(
    "values, message",
    [
        ({"count": 0}, "example.count=0 must be a whole number of at least 1"),
        ({"count": True}, "example.count=True must be a whole number of at least 1"),
        ({"flag": 1}, "example.flag=1 is not one of auto, True, False"),
        ({"colour": "red"}, "example.colour is not a setting of example; it has count, flag, names, extra"),
    ],
)
def test_a_wrong_or_unknown_key_is_refused_naming_key_and_value(values, message):
    with pytest.raises(ConfigError) as refused:
        read_group("example", _node(**values), Example)
    assert str(refused.value) == message


def test_a_missing_key_is_refused_unless_the_group_is_partial():
    node = OmegaConf.create({"count": 3})
    with pytest.raises(ConfigError, match="example.flag is missing; the config must set it"):
        read_group("example", node, Example)
    assert read_group("example", node, Example, required=False) == Example(3, None, None, None)


def test_an_open_group_takes_keys_it_does_not_declare():
    assert read_group("example", _node(lr=0.1), Example, closed=False).count == 3


def test_the_top_level_names_the_task_file():
    with pytest.raises(ConfigError, match="colour is not a setting of example.yaml"):
        read_group("", _node(colour="red"), Example)
