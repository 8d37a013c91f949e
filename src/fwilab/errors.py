"""Exceptions a user can act on; the command-line entry points print their message as one line."""

import importlib
from types import ModuleType
from typing import Any


class FwilabError(Exception):
    """Base class: the message names the file, key or value at fault."""


class DataError(FwilabError):
    """A data file, split file or data set directory is missing or malformed."""


class ConfigError(FwilabError):
    """A configuration value is invalid."""


class CheckpointError(FwilabError):
    """A checkpoint cannot be read or does not match the model."""


def require_whole(name: str, value: Any, minimum: int = 1, hint: str = "") -> None:
    """Refuse ``value`` unless it is an integer (not a bool) of at least ``minimum``; the message names ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} must be a whole number of at least {minimum} {hint}".rstrip())


def error_line(error: BaseException) -> str:
    """The one line a user sees for ``error``: an OS error names its path and cause (strerror), others their first line."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename is not None else error.strerror
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """``module``, from a package that only the fwilab extra ``extra`` installs; missing, a ConfigError says which
    extra brings it (the core runs without it)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != module.split(".")[0]:
            raise
        raise ConfigError(
            f"{feature} needs {module}, which fwilab installs as an extra: pip install 'fwilab[{extra}]' "
            f"(from a clone: pip install -e '.[{extra}]')"
        ) from None
