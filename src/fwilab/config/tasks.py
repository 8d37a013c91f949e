"""Each task's config (``conf/<task>.yaml``) as one frozen value: its top-level keys and one field per group, checked
where its command starts, before any data or checkpoint is read (one ``ConfigError`` naming the key and the value).

A task's value also holds the composed config it was read from (``config``): what a run writes as its
``config.yaml``, and what ``instantiate`` and the loggers still read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from omegaconf import DictConfig, ListConfig

from fwilab.config.checks import (
    TEXT,
    choice,
    device,
    group,
    kind,
    may_be_absent,
    nested,
    number,
    read_group,
    setting,
    unchecked,
    whole,
)
from fwilab.config.groups import (
    BaselineSettings,
    DataSettings,
    DiagnosticsSettings,
    LoggerSettings,
    ModelSettings,
    ObjectiveSettings,
    OptimizerSettings,
    PhysicsSettings,
    RefineSettings,
    SchedulerSettings,
    TrainerSettings,
    read_data,
    read_diagnostics,
    read_logger,
    read_loss,
    read_objective,
    target_group,
)
from fwilab.errors import ConfigError, require_whole

Task = TypeVar("Task", bound="TaskSettings")


@dataclass(frozen=True)
class TaskSettings:
    """What every task's value holds besides its settings: the config it was read from."""

    CONFIG: ClassVar[str]
    config: DictConfig | None = field(default=None, kw_only=True, compare=False, repr=False)


def read_settings(cfg: DictConfig, schema: type[Task]) -> Task:
    """Every setting of a task's config (``schema``: its dataclass) as its frozen value, before any data or
    checkpoint is read: one ``ConfigError`` naming the key and the value."""
    return replace(read_group("", cfg, schema), config=cfg)


def _data(key: str, node: DictConfig) -> DataSettings:
    return read_data(node, key)


@dataclass(frozen=True)
class TrainSettings(TaskSettings):
    """train.yaml: the top-level keys and one field per group; the ``_target_`` groups stay config."""

    CONFIG: ClassVar[str] = "train.yaml"

    seed: int = whole(minimum=0)
    lr: float = number("positive")
    weight_decay: float = number("non-negative")
    optimized_metric: str | None = may_be_absent(kind(TEXT, "best_* or final_* of metrics.json"))  # hparams_search
    model: DictConfig = target_group(ModelSettings)
    data: DataSettings = nested(_data)
    optimizer: DictConfig = target_group(OptimizerSettings)
    scheduler: DictConfig = target_group(SchedulerSettings)
    loss: DictConfig = nested(read_loss)
    objective: ObjectiveSettings = nested(read_objective)
    trainer: TrainerSettings = group(TrainerSettings)
    logger: LoggerSettings = nested(read_logger)
    diagnostics: DiagnosticsSettings = nested(read_diagnostics)
    physics: PhysicsSettings = group(PhysicsSettings)


def read_train(cfg: DictConfig) -> TrainSettings:
    """train.yaml's value, and what is wrong only in combination; what needs the model built is checked by
    ``fwilab.training.train_settings.check_train``, what needs the data where the data are known."""
    settings = read_settings(cfg, TrainSettings)
    if settings.trainer.max_steps is None:
        require_whole("trainer.epochs", settings.trainer.epochs, hint="(or set trainer.max_steps)")
    check_snapshots_in_parallel(settings)
    return settings


def check_snapshots_in_parallel(settings: TrainSettings) -> None:
    """Train-mode snapshots with synchronized BatchNorm under data-parallel training: refused where
    ``trainer.distributed`` says so (true here; ``auto`` once the processes are known, in ``train()``)."""
    trainer, diagnostics = settings.trainer, settings.diagnostics
    parallel = trainer.distributed is True
    if diagnostics.enabled and diagnostics.mode == "train" and parallel and trainer.sync_batchnorm:
        raise ConfigError(
            "diagnostics.mode=train with trainer.sync_batchnorm: only rank 0 snapshots, and synchronized "
            "BatchNorm would wait for the other ranks; use diagnostics.mode=eval"
        )


NORMALIZATIONS = ("checkpoint", "data")  # a trained model's inputs: the constants it was trained with, or the data's


@dataclass(frozen=True)
class CheckpointTaskSettings(TaskSettings):
    """The keys of every task that reads a trained model (evaluate, render_activations, loss_landscape, refine)."""

    checkpoint: str = kind(TEXT, "a checkpoint file")
    normalization: str = choice(NORMALIZATIONS, message=f"is not one of {NORMALIZATIONS}")
    split: str = unchecked()  # train | val: data.build names the splits
    device: str = device()
    model: DictConfig | None = may_be_absent(target_group(ModelSettings))  # an OpenFWI checkpoint's
    data: DataSettings | None = may_be_absent(nested(_data))  # absent: the checkpoint's own


@dataclass(frozen=True)
class EvaluateSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "evaluate.yaml"
    batch_size: int | None = whole(optional=True)
    physics: PhysicsSettings = group(PhysicsSettings)
    logger: LoggerSettings = nested(read_logger)


@dataclass(frozen=True)
class RenderSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "render_activations.yaml"
    sample: int = whole(minimum=0)
    diagnostics: DiagnosticsSettings = nested(read_diagnostics)


@dataclass(frozen=True)
class LandscapeSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "loss_landscape.yaml"
    samples: int = whole()
    batch_size: int = whole()
    range: float = number("positive")
    points_1d: int = whole()
    points_2d: int = whole()
    seed: int = whole(minimum=0)
    logger: LoggerSettings = nested(read_logger)


REFINE_STARTS = ("network", "1d", "file")  # the checkpoint's maps, the smooth 1-D start, start_file's maps


def _optional_text(wanted: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{key}={value!r} must be {wanted}")

    return check


def sample_span(key: str, value: Any) -> tuple[int, int | None]:
    """``samples``: N (the first N), ``all`` or ``A:B`` (samples A to B-1; ``A:`` to the end) as (first, stop); stop
    None: the split's end."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 1:
            return 0, value
    elif value == "all":
        return 0, None
    elif isinstance(value, str) and re.fullmatch(r"\d+:\d*", value):
        first, stop = value.split(":")
        if not stop or int(stop) > int(first):
            return int(first), int(stop) if stop else None
    raise ConfigError(
        f"{key}={value!r} must be a number of first samples, all, or a range A:B (samples A to B-1; A: to the end)"
    )


def _samples(key: str, value: Any) -> None:
    sample_span(key, value)


def shard_of(key: str, value: Any) -> tuple[int, int] | None:
    """``shard``: K/N (the K-th of N contiguous parts of the selected samples, K from 0) as (K, N); None: all."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)/(\d+)", str(value))
    if match is None or not int(match[1]) < int(match[2]):
        raise ConfigError(f"{key}={value!r} must be K/N, part K (from 0) of N, e.g. 0/4")
    return int(match[1]), int(match[2])


def _shard(key: str, value: Any) -> None:
    shard_of(key, value)


def _starts(key: str, value: Any) -> None:
    if value == "auto":
        return
    names = list(value) if isinstance(value, (list, tuple, ListConfig)) else None
    if not names or len(set(names)) != len(names) or not set(names) <= set(REFINE_STARTS):
        raise ConfigError(f"{key}={value!r} must be auto or a list of distinct starts from {list(REFINE_STARTS)}")


@dataclass(frozen=True)
class RefineTaskSettings(CheckpointTaskSettings, RefineSettings):
    """refine.yaml: a checkpoint task whose value is also the refinement's settings (``RefineSettings``); without a
    checkpoint (``checkpoint: null``), classical FWI of ``data=``'s gathers."""

    CONFIG: ClassVar[str] = "refine.yaml"
    checkpoint: str | None = setting(_optional_text("a checkpoint file (null: classical FWI, no network)"))
    samples: int | str = setting(_samples)
    shard: str | None = setting(_shard)
    starts: str | tuple[str, ...] = setting(_starts)
    start_file: str | None = setting(_optional_text("an OpenFWI velocity file (n, 1, 70, 70) in m/s"))
    batch_size: int = whole()
    baseline: BaselineSettings = group(BaselineSettings)
    pictures: int = whole(minimum=0)
    logger: LoggerSettings = nested(read_logger)


@dataclass(frozen=True)
class GenerateSettings(TaskSettings):
    CONFIG: ClassVar[str] = "generate_data.yaml"
    family: str = kind(TEXT, "a family name")  # one with a generator: GenerationPlan, before any file is written
    n_train: int = whole()
    n_val: int = whole()
    samples_per_file: int = whole()  # at most 500: GenerationPlan
    seed: int = whole(minimum=0)
    out: str = kind(TEXT, "a folder")
    device: str = device()
    batch_size: int = whole()
    report: bool = kind(bool, "true or false")
    preview: bool = kind(bool, "true or false")
    preview_samples: int = whole()
    progress: bool = kind(bool, "true or false")


@dataclass(frozen=True)
class ExportSettings(TaskSettings):
    CONFIG: ClassVar[str] = "export_openfwi.yaml"
    checkpoint: str = kind(TEXT, "a checkpoint file")
    out: str = kind(TEXT, "a file to write")


@dataclass(frozen=True)
class CompareRepresentationsSettings(TaskSettings):
    CONFIG: ClassVar[str] = "compare_representations.yaml"
    a: str = kind(TEXT, "a run directory or a checkpoint file")
    b: str = kind(TEXT, "a run directory or a checkpoint file")
    samples: int = whole()
    split: str = unchecked()  # train | val: data.build names the splits
    device: str = device()
    logger: LoggerSettings = nested(read_logger)
