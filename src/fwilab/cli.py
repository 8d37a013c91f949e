"""Glue between Hydra entry points and the library: run directory, one-line errors."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from fwilab.errors import FwilabError

log = logging.getLogger("fwilab")


def run_dir() -> Path:
    """The Hydra output directory of the running job."""
    return Path(HydraConfig.get().runtime.output_dir)


def hydra_task(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Turn a user-fixable error into one ``error: ...`` line and a non-zero exit.

    In a multirun the failed job is logged and the sweep goes on to the next job.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except (FwilabError, OmegaConfBaseException, HydraException) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            log.error("%s", message)
            if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
                return None
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(1) from None

    return wrapper
