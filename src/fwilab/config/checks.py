"""How a config group becomes a value: each field of a group's frozen dataclass carries, in its metadata, the check
that refuses a wrong value with one ``ConfigError`` naming the key and the value, and returns what the value holds.

``read_group`` refuses a key the schema does not declare (unless the group is open: a ``_target_`` group whose
target takes its own arguments), checks every declared key and returns the schema's instance; the defaults stay in
the YAML, so the dataclasses declare none. Lists become tuples and mappings dicts, so a value cannot change after
its check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import field, fields
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf

from fwilab.device import DEVICES
from fwilab.errors import ConfigError, require_whole

Schema = TypeVar("Schema")
Check = Callable[[str, Any], Any]  # (key, value) -> the value the setting holds, or a ConfigError


def is_number(value: Any) -> bool:
    """A real number a setting can hold (not a flag, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def plain(value: Any) -> Any:
    """``value`` without OmegaConf containers: a list as a tuple, a mapping as a dict (interpolations resolved)."""
    if isinstance(value, ListConfig):
        return tuple(OmegaConf.to_container(value, resolve=True))
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def setting(check: Callable[[str, Any], None], **metadata: Any) -> Any:
    """A field whose value ``check`` refuses (raising) or accepts; the value is then held ``plain``."""

    def read(key: str, value: Any) -> Any:
        check(key, value)
        return plain(value)

    return field(metadata={"check": read, **metadata})


def whole(minimum: int = 1, optional: bool = False, hint: str = "") -> Any:
    """A whole number of at least ``minimum`` (``optional``: or null)."""

    def check(key: str, value: Any) -> None:
        if not (optional and value is None):
            require_whole(key, value, minimum=minimum, hint=hint)

    return setting(check)


def number(condition: str, optional: bool = False, message: str = "") -> Any:
    """A real number that is ``positive`` or ``non-negative`` (``optional``: or null)."""
    accepts = {"positive": lambda x: x > 0, "non-negative": lambda x: x >= 0}[condition]
    wanted = message or {"positive": "must be a positive number", "non-negative": "must not be negative"}[condition]

    def check(key: str, value: Any) -> None:
        if not (optional and value is None) and not (is_number(value) and accepts(value)):
            raise ConfigError(f"{key}={value!r} {wanted}")

    return setting(check)


def choice(choices: tuple, message: str = "") -> Any:
    """One of ``choices``, of the same type (1 is not true); ``message`` replaces the list in the refusal."""

    def check(key: str, value: Any) -> None:
        if not any(type(value) is type(option) and value == option for option in choices):
            raise ConfigError(f"{key}={value!r} " + (message or f"is not one of {', '.join(map(str, choices))}"))

    return setting(check)


def kind(kinds: type | tuple[type, ...], wanted: str) -> Any:
    """A value of ``kinds`` (a string, a flag, ...); ``wanted`` says so in the message."""

    def check(key: str, value: Any) -> None:
        if not isinstance(value, kinds) or (kinds is not bool and isinstance(value, bool)):
            raise ConfigError(f"{key}={value!r} must be {wanted}")

    return setting(check)


def device() -> Any:
    """A device name: auto, cpu, cuda, mps or cuda:N (whether it is there is known when it is resolved)."""

    def check(key: str, value: Any) -> None:
        if not isinstance(value, str) or value not in DEVICES and not value.startswith("cuda:"):
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(DEVICES)}")

    return setting(check)


def unchecked() -> Any:
    """A setting whose value is checked where it is used (a path, a layout, a resolver's number)."""
    return setting(lambda key, value: None)


def may_be_absent(declared: Any) -> Any:
    """``declared``, which a config may leave out (an option adds it); absent, the value holds None."""
    return field(metadata={**declared.metadata, "optional": True})


def group(schema: type, closed: bool = True) -> Any:
    """A nested group read as ``schema``'s value; an open one (not ``closed``, a ``_target_`` group) is checked and
    stays config, for ``instantiate``."""

    def read(key: str, node: Any) -> Any:
        value = read_group(key, node, schema, closed=closed)
        return value if closed else node

    return field(metadata={"check": read})


def nested(read: Check) -> Any:
    """A field read by ``read`` (a group whose schema depends on its content, or that reads as config)."""
    return field(metadata={"check": read})


SWITCH = {"choices": ("auto", True, False), "message": "must be auto, true or false"}
TEXT = (str,)
OPTIONAL_TEXT = (str, type(None))


def _path(name: str, key: str) -> str:
    return f"{name}.{key}" if name else key


def read_group(
    name: str, node: DictConfig, schema: type[Schema], closed: bool = True, required: bool | None = None
) -> Schema:
    """``node`` as ``schema``'s frozen value: a key ``schema`` does not declare is refused (``closed``), every declared
    key ``node`` holds is checked; ``required`` (by default: ``closed``): a declared key must be there, unless its
    field says it may be absent. An absent key holds None."""
    declared = {item.name: item for item in fields(schema) if "check" in item.metadata}
    if closed:
        unknown = [key for key in node if key not in declared]
        if unknown:
            raise ConfigError(
                f"{_path(name, unknown[0])} is not a setting of {name or schema.CONFIG}; it has {', '.join(declared)}"
            )
    values = {}
    for key, item in declared.items():
        values[key] = None
        if key in node.keys():  # a mandatory ??? too: reading it says "Missing mandatory value"
            if not (item.metadata.get("optional") and node[key] is None):
                values[key] = item.metadata["check"](_path(name, key), node[key])
        elif (closed if required is None else required) and not item.metadata.get("optional"):
            raise ConfigError(f"{_path(name, key)} is missing; the config must set it")
    return schema(**values)
