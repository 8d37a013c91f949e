"""Glue between Hydra entry points and the library: run directory (one run each), one-line errors."""

from __future__ import annotations

import copy
import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from fwilab.errors import ConfigError, FwilabError, error_line, import_extra
from fwilab.run_files import hold_files, release_files, start_files, writes_own_files
from fwilab.run_lock import LOCK_NAME, RunDirectoryInUse, RunLock
from fwilab.training.record import RunRecord

log = logging.getLogger("fwilab")
DATA_PARALLEL_CONFIGS = ("train", "refine")  # the tasks torchrun may start several times: one run, its ranks sharing it
TORCHRUN_MULTIRUN = (
    "torchrun with -m would run the whole sweep in every process; start one torchrun per sweep point, "
    "or sweep with -m hydra/launcher=slurm trainer=ddp (one multi-task SLURM job per point)"
)
USER_ERRORS = (FwilabError, OmegaConfBaseException, HydraException, OSError, KeyboardInterrupt)
CONFIG_ERRORS = (ConfigError, OmegaConfBaseException, HydraException)  # the same in every rank: rank 0 says it
PLUGIN_EXTRAS = (  # (config group, option prefix, the Hydra plugin it needs, the fwilab extra installing that)
    ("hydra/launcher", "submitit", "hydra_plugins.hydra_submitit_launcher", "cluster"),
    ("hydra/launcher", "slurm", "hydra_plugins.hydra_submitit_launcher", "cluster"),
    ("hydra/sweeper", "optuna", "hydra_plugins.hydra_optuna_sweeper", "sweep"),
    ("hparams_search", "optuna", "hydra_plugins.hydra_optuna_sweeper", "sweep"),
)


def _is_main_process() -> bool:
    """Rank 0 under torchrun or a multi-task SLURM job (the one that writes the run directory), or a lone process."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0"))) == 0


def refuse_several_processes(task: str) -> None:
    """A single-process task started by torchrun stops before any work, with one line from rank 0 (every rank
    exits 1; torchrun then adds its own report of the failed processes).

    Only training is data-parallel; N copies of any other task would write the same files N times.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        if _is_main_process():
            print(
                f"error: {task} runs in one process, but torchrun started WORLD_SIZE={world_size}; start it with "
                "python, once",
                file=sys.stderr,
            )
        raise SystemExit(1)


def run_dir() -> Path:
    """The Hydra output directory of the running job."""
    return Path(HydraConfig.get().runtime.output_dir)


@dataclass
class Claim:
    """This process's lock on a run directory, and the outermost folder it created for it (None: it existed)."""

    lock: RunLock
    created: Path | None


_CLAIMS: dict[Path, Claim] = {}


def start_run_files() -> None:
    """Write the running job's Hydra record and log file now, when they wait for it (``hydra.output_subdir: null``,
    as train's): its task calls this once its checks have passed. Elsewhere (another rank, Hydra's own) nothing."""
    if HydraConfig.initialized():
        start_files(run_dir())


def claim_run_directory(directory: Path) -> Claim:
    """Create ``directory`` if needed and lock it for this process; refuse with one ``error:`` line (exit 1)
    when another live run holds it, leaving nothing behind."""
    directory = Path(os.path.abspath(directory))  # as Hydra spells the job's output_dir
    if directory in _CLAIMS:
        return _CLAIMS[directory]
    created = next((p for p in reversed((directory, *directory.parents)) if not p.exists()), None)
    try:
        lock = RunLock(directory).acquire()
    except (RunDirectoryInUse, OSError) as error:
        print(f"error: {error_line(error)}", file=sys.stderr)
        raise SystemExit(1) from None
    _CLAIMS[directory] = Claim(lock, created)
    return _CLAIMS[directory]


def _release(claim: Claim, refused: bool) -> None:
    """Unlock; a run refused before it started also removes the folders it created, when they hold only what
    Hydra wrote (``.hydra/``, the job's log) and the lock, and never a folder that existed before."""
    claim.lock.release()
    _CLAIMS.pop(claim.lock.path.parent, None)
    directory = claim.lock.path.parent
    hydra_only = {".hydra", f"{HydraConfig.get().job.name}.log", LOCK_NAME}
    if not refused or claim.created is None or not {p.name for p in directory.iterdir()} <= hydra_only:
        return
    shutil.rmtree(directory)
    for parent in directory.parents:  # empty folders it created, up to the first one; a concurrent run's stay
        if not parent.is_relative_to(claim.created) or any(parent.iterdir()):
            break
        parent.rmdir()


class ClaimRunDirectory(Callback):
    """Hydra callback: before Hydra writes ``.hydra/`` and the log into a single run's directory, refuse a
    single-process task that torchrun started several times, and lock the directory."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.job.config_name not in DATA_PARALLEL_CONFIGS:  # before anything is created or locked
            refuse_several_processes(config.hydra.job.config_name)
        if _is_main_process():
            claim_run_directory(Path(config.hydra.run.dir))


def check_plugin_extras(arguments: list[str]) -> None:
    """A ConfigError naming the extra when a command-line override selects a Hydra plugin (the SLURM launcher, the
    Optuna sweeper) that is not installed: Hydra itself says only that it 'Could not load' the option."""
    for argument in arguments:
        group, _, option = argument.lstrip("+~").partition("=")
        for plugin_group, prefix, module, extra in PLUGIN_EXTRAS:
            if group == plugin_group and option.startswith(prefix):
                import_extra(module, extra, f"{group}={option}")


def hydra_command(main: Callable[[], Any]) -> Callable[[], Any]:
    """A Hydra command's entry point (outside ``hydra.main``): a missing plugin extra is one ``error:`` line and
    exit status 1 before Hydra composes the config."""

    @functools.wraps(main)
    def wrapper(*passthrough: Any) -> Any:
        if passthrough:  # a composed config handed straight to the task (hydra.main's passthrough): no command line
            return main(*passthrough)
        try:
            check_plugin_extras(sys.argv[1:])
        except FwilabError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(1) from None
        return main()

    return wrapper


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
    """Run ``task`` holding its run directory's lock; a user-fixable error (an OS error and Ctrl-C included)
    becomes one ``error: ...`` line and a non-zero exit. A run refused before it started leaves no directory.

    In a multirun any failed job (a user error, a divergence or a crash) is logged and marked in
    its ``metrics.json``, and the sweep goes on to the next job.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
        if multirun and "TORCHELASTIC_RUN_ID" in os.environ:
            print(f"error: {TORCHRUN_MULTIRUN}", file=sys.stderr)
            raise SystemExit(1)
        claim = claim_run_directory(run_dir()) if HydraConfig.initialized() and _is_main_process() else None
        if claim is not None and writes_own_files():
            hold_files(run_dir(), copy.deepcopy(cfg))
        if claim is not None and claim.lock.taken_over is not None:
            dead = claim.lock.taken_over
            log.warning(
                "took over the lock %s from pid %s on %s, which is gone", claim.lock.path, dead["pid"], dead["host"]
            )
        refused = False
        try:
            result = task(cfg)
            if not multirun and isinstance(result, dict) and result.get("status") == "interrupted":
                raise SystemExit(130)  # stopped cleanly by Ctrl-C: a shell's `train && evaluate` stops too
            return result
        except USER_ERRORS as error:
            refused = not multirun
            return _fail(error, multirun, "")
        except Exception as error:
            if not multirun:
                raise
            return _fail(error, multirun, f"{type(error).__name__}: ")
        finally:
            if HydraConfig.initialized():
                release_files(run_dir())
            if claim is not None:
                _release(claim, refused)

    return wrapper


def _log_to_files_only(message: str) -> None:
    """Put the error in the run's log file, not on the terminal, which gets it once as the ``error:`` line."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (message,), None)
    logger: logging.Logger | None = log
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
                handler.handle(record)
        logger = logger.parent if logger.propagate else None


def _fail(error: BaseException, multirun: bool, prefix: str) -> None:
    """Report a failed job: in a multirun log it, mark it and go on; otherwise one ``error:`` line and exit."""
    message = prefix + error_line(error)
    if multirun and not isinstance(error, KeyboardInterrupt):  # Ctrl-C stops the whole sweep
        start_run_files()  # a sweep's failed job is one of its jobs: its record lists it (summaries read it)
        log.error("job failed; the sweep goes on: %s", message, exc_info=bool(prefix))
        RunRecord.mark_failed(run_dir(), message)
        return None
    _log_to_files_only(message)
    if _is_main_process() or not isinstance(error, CONFIG_ERRORS):  # a data or OS error may be one rank's own
        print(f"error: {message}", file=sys.stderr)
    raise SystemExit(130 if isinstance(error, KeyboardInterrupt) else 1) from None
