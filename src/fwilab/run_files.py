"""A train run's Hydra record (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``) and its log file
(``train.log``), written by fwilab once the run has passed its checks instead of by Hydra before the task starts:
a refused resume changes no file of the run it refuses.

``conf/train.yaml`` turns Hydra's own writing off (``hydra.output_subdir: null``, and ``hydra/job_logging:
console``, Hydra's default without its file); the log records from before the start are held and written first.
"""

from __future__ import annotations

import logging
from logging.handlers import MemoryHandler
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from fwilab.io import atomic_write


def writes_own_files() -> bool:
    """Whether the running Hydra job leaves its record and log file to fwilab (``hydra.output_subdir: null``)."""
    return HydraConfig.initialized() and HydraConfig.get().output_subdir is None


class HeldRunFiles:
    """Holds the job's log records from now until ``start()``, which writes the Hydra record as Hydra would and
    the log file (the held records first, then every later one); ``close()`` detaches it."""

    def __init__(self, directory: Path, task_config: DictConfig):
        self.directory = directory
        self.task_config = task_config
        self.held = MemoryHandler(capacity=1_000_000, flushLevel=logging.CRITICAL + 1)  # flushed once, at the start
        self.log_file: logging.FileHandler | None = None
        logging.getLogger().addHandler(self.held)

    @property
    def started(self) -> bool:
        return self.log_file is not None

    def start(self) -> None:
        """Write ``.hydra/`` and open ``<job>.log`` (appending, as Hydra does), once."""
        if self.started:
            return
        hydra = HydraConfig.get()
        record = {
            "config.yaml": self.task_config,
            "hydra.yaml": HydraConfig.instance().cfg,
            "overrides.yaml": hydra.overrides.task,
        }
        for name, content in record.items():
            text = OmegaConf.to_yaml(content).encode()
            atomic_write(self.directory / ".hydra" / name, lambda handle, text=text: handle.write(text))
        self.log_file = logging.FileHandler(self.directory / f"{hydra.job.name}.log")
        self.log_file.setFormatter(logging.Formatter(OmegaConf.select(hydra.job_logging, "formatters.simple.format")))
        self.held.setTarget(self.log_file)
        self.held.flush()
        root = logging.getLogger()
        root.removeHandler(self.held)
        root.addHandler(self.log_file)

    def close(self) -> None:
        """Detach from logging; records held and never started are dropped (the run was refused)."""
        root = logging.getLogger()
        root.removeHandler(self.held)
        self.held.buffer.clear()
        if self.log_file is not None:
            root.removeHandler(self.log_file)
            self.log_file.close()


_HELD: dict[Path, HeldRunFiles] = {}  # by run directory; here, not in a caller, as launchers pickle callers by value


def hold_files(directory: Path, task_config: DictConfig) -> None:
    """Hold ``directory``'s log records and Hydra record until ``start_files(directory)``."""
    _HELD[directory] = HeldRunFiles(directory, task_config)


def start_files(directory: Path) -> None:
    """Write ``directory``'s held Hydra record and log file; nothing when none is held (another rank, Hydra's own)."""
    held = _HELD.get(directory)
    if held is not None:
        held.start()


def release_files(directory: Path) -> None:
    """Detach ``directory``'s held files from logging (dropping what never started)."""
    held = _HELD.pop(directory, None)
    if held is not None:
        held.close()
