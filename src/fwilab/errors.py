"""Exceptions a user can act on; the command-line entry points print their message as one line."""


class FwilabError(Exception):
    """Base class: the message names the file, key or value at fault."""


class DataError(FwilabError):
    """A data file, split file or data set directory is missing or malformed."""


class ConfigError(FwilabError):
    """A configuration value is invalid."""


class CheckpointError(FwilabError):
    """A checkpoint cannot be read or does not match the model."""
