"""Glue between Hydra entry points and the library: run directory, one-line errors."""

from __future__ import annotations

import functools
import json
import logging
import os
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
from fwilab.io import write_json

log = logging.getLogger("fwilab")
DATA_PARALLEL_CONFIGS = ("train",)  # the tasks torchrun may start several times: one run, data-parallel
TORCHRUN_MULTIRUN = (
    "torchrun with -m would run the whole sweep in every process; start one torchrun per sweep point, "
    "or sweep with -m hydra/launcher=slurm trainer=ddp (one multi-task SLURM job per point)"
)


def refuse_several_processes(task: str) -> None:
    """A single-process task started by torchrun stops with one line before any work.

    Only training is data-parallel; N copies of any other task would write the same files N times.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        print(
            f"error: {task} runs in one process, but torchrun started WORLD_SIZE={world_size}; start it with python, once",
            file=sys.stderr,
        )
        raise SystemExit(1)


def run_dir() -> Path:
    """The Hydra output directory of the running job."""
    return Path(HydraConfig.get().runtime.output_dir)


def record_failure(directory: Path, message: str) -> None:
    """Mark the job's ``metrics.json`` failed (a diverged or preempted run keeps its own status)."""
    path = directory / "metrics.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    if record.get("status") not in ("diverged", "preempted"):
        record.update(status="failed", error=message)
    write_json(path, record)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def argparse_task(main: Callable[[], int]) -> Callable[[], int]:
    """An argparse script's ``main``: a user-fixable error becomes one ``error: ...`` line and exit status 1."""

    @functools.wraps(main)
    def wrapper() -> int:
        refuse_several_processes(Path(sys.argv[0]).name)
        try:
            return main()
        except FwilabError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return wrapper


def hydra_task(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Turn a user-fixable error into one ``error: ...`` line and a non-zero exit.

    In a multirun any failed job (a user error, a divergence or a crash) is logged and marked in
    its ``metrics.json``, and the sweep goes on to the next job.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
        if multirun and "TORCHELASTIC_RUN_ID" in os.environ:
            print(f"error: {TORCHRUN_MULTIRUN}", file=sys.stderr)
            raise SystemExit(1)
        config_name = HydraConfig.get().job.config_name if HydraConfig.initialized() else None
        if config_name not in DATA_PARALLEL_CONFIGS:
            refuse_several_processes(config_name or task.__name__)
        try:
            return task(cfg)
        except (FwilabError, OmegaConfBaseException, HydraException) as error:
            message = _first_line(error)
            log.error("%s", message)
            if multirun:
                record_failure(run_dir(), message)
                return None
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(1) from None
        except Exception as error:
            if not multirun:
                raise
            log.exception("job crashed; the sweep goes on")
            record_failure(run_dir(), f"{type(error).__name__}: {_first_line(error)}")
            return None

    return wrapper
