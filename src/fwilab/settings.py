"""The declared settings of each config group: their types and checks, in one place, checked before any work.

Each group is a dataclass: a field's annotation is the setting's type and its metadata the check that refuses a
wrong value with one ``ConfigError`` naming the key and the value. The defaults stay in the YAML under ``conf/``
(their one source, where users read them); a key a group does not declare is refused, except in the groups whose
``_target_`` takes its own arguments (model, optimizer, scheduler, loss), where the declared keys are checked and
the rest go to the target. ``check_train`` runs where ``fwilab-train`` starts, before any data is read or
generated; what needs the data (batch size against the training split) is checked where the data are known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig
from torch import nn

from fwilab.data.check import check_policy
from fwilab.data.synthetic.velocity import recipe_for
from fwilab.device import DEVICES
from fwilab.diagnostics.render import MONTAGE_NORMALIZATIONS
from fwilab.errors import ConfigError, require_whole
from fwilab.models.build import build_model
from fwilab.physics.refine import RefineSettings
from fwilab.training.batches import STORAGE_DTYPES
from fwilab.training.performance import PRECISIONS
from fwilab.training.record import MONITORED

Switch = Literal["auto", True, False]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _whole(minimum: int = 1, optional: bool = False, hint: str = "") -> Any:
    """A whole number of at least ``minimum`` (``optional``: or null)."""

    def check(key: str, value: Any) -> None:
        if not (optional and value is None):
            require_whole(key, value, minimum=minimum, hint=hint)

    return field(metadata={"check": check})


def _number(condition: str, optional: bool = False, message: str = "") -> Any:
    """A real number that is ``positive`` or ``non-negative`` (``optional``: or null)."""
    accepts = {"positive": lambda x: x > 0, "non-negative": lambda x: x >= 0}[condition]
    wanted = message or {"positive": "must be a positive number", "non-negative": "must not be negative"}[condition]

    def check(key: str, value: Any) -> None:
        if not (optional and value is None) and not (_is_number(value) and accepts(value)):
            raise ConfigError(f"{key}={value!r} {wanted}")

    return field(metadata={"check": check})


def _choice(choices: tuple, message: str = "") -> Any:
    """One of ``choices``, of the same type (1 is not true); ``message`` replaces the list in the refusal."""

    def check(key: str, value: Any) -> None:
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise ConfigError(f"{key}={value!r} " + (message or f"is not one of {', '.join(map(str, choices))}"))

    return field(metadata={"check": check})


def _kind(kind: type | tuple[type, ...], wanted: str) -> Any:
    """A value of ``kind`` (a string, a flag, ...); ``wanted`` says so in the message."""

    def check(key: str, value: Any) -> None:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigError(f"{key}={value!r} must be {wanted}")

    return field(metadata={"check": check})


def _may_be_absent(setting: Any) -> Any:
    """``setting``, which a config may leave out (an option adds it)."""
    return field(metadata={**setting.metadata, "optional": True})


def _any() -> Any:
    """A setting whose value is checked where it is used (a path, a layout, a resolver's number)."""
    return field(metadata={"check": lambda key, value: None})


SWITCH = {"choices": ("auto", True, False), "message": "must be auto, true or false"}
TEXT = (str,)
OPTIONAL_TEXT = (str, type(None))


@dataclass(frozen=True)
class TrainerSettings:
    epochs: int | None = _whole(optional=True, hint="(or set trainer.max_steps)")
    max_steps: int | None = _whole(optional=True)
    batch_size: int = _whole()
    eval_batch_size: int = _whole()
    device: str = field(metadata={"check": lambda key, value: _device(key, value)})
    val_every_steps: int | None = _whole(optional=True)
    log_every_steps: int = _whole()
    num_workers: Literal["auto"] | int = field(metadata={"check": lambda key, value: _workers(key, value)})
    checkpoint_every_steps: int | None = _whole(optional=True)
    keep_checkpoints: int = _whole()
    monitor: str = _choice(MONITORED, message=f"is not one of {MONITORED}")
    resume: str = _kind(TEXT, "auto, never or a checkpoint path")
    grad_clip_norm: float | None = _number(
        "positive", optional=True, message="must be a positive number (null: no clipping)"
    )
    skip_nonfinite_steps: int = _whole(minimum=0)
    distributed: Switch = _choice(**SWITCH)
    backend: Literal["auto", "nccl", "gloo"] = _choice(("auto", "nccl", "gloo"))
    sync_batchnorm: bool = _kind(bool, "true or false")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = _choice(("auto", *PRECISIONS))
    channels_last: Switch = _choice(**SWITCH)
    compile: Switch = _choice(**SWITCH)
    cudnn_benchmark: Switch = _choice(**SWITCH)
    data_on_device: Switch = _choice(**SWITCH)
    device_data_dtype: Literal["auto", "float32", "bfloat16", "float16"] = _choice(("auto", *STORAGE_DTYPES))


def _device(key: str, value: Any) -> None:
    if not isinstance(value, str) or value not in DEVICES and not value.startswith("cuda:"):
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(DEVICES)}")


def _workers(key: str, value: Any) -> None:
    if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigError(f"{key}={value!r} must be auto or a whole number >= 0")


@dataclass(frozen=True)
class SyntheticSettings:
    family: str = _kind(TEXT, "a family name")
    n_train: int = _whole()
    n_val: int = _whole()
    seed: int = _whole(minimum=0)
    samples_per_file: int = _whole()
    device: str = field(metadata={"check": lambda key, value: _device(key, value)})
    batch_size: int = _whole()


@dataclass(frozen=True)
class DataSettings:
    root: str = _kind(TEXT, "a folder")
    family: str = _kind(TEXT, "a family name")
    train_split: str | None = _kind(OPTIONAL_TEXT, "a split file or null")
    val_split: str | None = _kind(OPTIONAL_TEXT, "a split file or null")
    layout: Any = _any()
    data_min: float = _any()
    data_max: float = _any()
    vel_min: float | None = _number("positive", optional=True)
    vel_max: float | None = _number("positive", optional=True)
    train_samples: int | None = _whole(optional=True)
    val_samples: int | None = _whole(optional=True)
    subset_seed: int = _whole(minimum=0)
    check: Literal["error", "warn", "off"] = field(metadata={"check": lambda key, value: check_policy(value)})
    synthetic: SyntheticSettings | None = _any()  # checked as its own group when set


@dataclass(frozen=True)
class DiagnosticsSettings:
    enabled: bool = _kind(bool, "true or false")
    every_n_steps: int = _whole(minimum=0)
    types: list[str] = field(metadata={"check": lambda key, value: _module_classes(key, value)})
    patterns: list[str] = field(metadata={"check": lambda key, value: _module_paths(key, value)})
    max_samples: int = _whole()
    max_channels: int = _whole()
    mode: Literal["eval", "train"] = _choice(("eval", "train"), message="is not 'eval' or 'train'")
    montage_normalization: str = _choice(MONTAGE_NORMALIZATIONS, message=f"is not one of {MONTAGE_NORMALIZATIONS}")
    percentile: float = field(metadata={"check": lambda key, value: _percentile(key, value)})
    statistics: bool = _kind(bool, "true or false")


def _percentile(key: str, value: Any) -> None:
    if not (_is_number(value) and 0 <= value < 50):
        raise ConfigError(f"{key}={value!r} must be in [0, 50)")


def _module_paths(key: str, value: Any) -> None:
    if not isinstance(value, ListConfig) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"{key}={value!r} must be a list of module paths such as ['deconv5_*']")


def _module_classes(key: str, value: Any) -> None:
    for name in value:
        try:
            kind = get_class(name)
        except Exception:
            kind = None
        if not (isinstance(kind, type) and issubclass(kind, nn.Module)):
            raise ConfigError(f"{key}: {name!r} is not an importable torch.nn.Module class")


@dataclass(frozen=True)
class LoggerSettings:
    backend: Literal["wandb", "none"] = _choice(("wandb", "none"), message="is not 'wandb' or 'none'")


@dataclass(frozen=True)
class WandbSettings(LoggerSettings):
    project: str = _kind(TEXT, "a W&B project name")
    entity: str | None = _kind(OPTIONAL_TEXT, "a W&B entity or null")
    mode: str | None = _kind(OPTIONAL_TEXT, "a W&B mode (offline, online, disabled) or null for W&B's own settings")
    group: str | None = _kind(OPTIONAL_TEXT, "a group name or null")
    name: str | None = _kind(OPTIONAL_TEXT, "a run name or null")
    tags: list[str] = _kind(ListConfig, "a list of names")
    log_checkpoint: bool = _kind(bool, "true or false")
    init_timeout_s: float = _number("positive")


@dataclass(frozen=True)
class ModelSettings:  # and the arguments of model._target_, checked by building it on the meta device
    init_from: str | None = _kind(OPTIONAL_TEXT, "a checkpoint path or null")


@dataclass(frozen=True)
class OptimizerSettings:  # and the arguments of optimizer._target_
    lr: float = _number("positive")
    weight_decay: float = _number("non-negative")
    betas: list[float] = field(metadata={"check": lambda key, value: _betas(key, value)})


def _betas(key: str, value: Any) -> None:
    betas = list(value) if isinstance(value, ListConfig) else value
    if not (isinstance(betas, list) and len(betas) == 2 and all(_is_number(x) and 0 <= x < 1 for x in betas)):
        raise ConfigError(f"{key}={betas} must be two numbers in [0, 1)")


@dataclass(frozen=True)
class SchedulerSettings:  # and the arguments of scheduler._target_
    warmup_steps: int = _whole(minimum=0)


def _group(schema: type, closed: bool = True) -> Any:
    """A config group checked against ``schema``; an open one (not ``closed``) also takes its target's arguments."""
    return field(metadata={"check": lambda key, value: check_group(key, value, schema, closed=closed)})


def _loss(key: str, loss: DictConfig) -> None:
    """A negative weight ascends that term; NaN is let through (a run that diverges at once says so)."""
    for name, weight in loss.items():
        if not str(name).startswith("lambda_"):
            continue
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"{key}.{name}={weight!r} must be a number")
        if weight < 0:
            raise ConfigError(f"{key}.{name}={weight!r} must not be negative")


def _data(key: str, data: DictConfig) -> None:
    check_group(key, data, DataSettings)
    if data.synthetic is not None:
        check_group(f"{key}.synthetic", data.synthetic, SyntheticSettings)


def _logger(key: str, logger: DictConfig) -> None:
    check_group(key, logger, LoggerSettings, closed=False)  # the backend says which settings follow
    check_group(key, logger, WandbSettings if logger.backend == "wandb" else LoggerSettings)


def check_diagnostics_settings(key: str, diagnostics: DictConfig) -> None:
    """The diagnostics group of any task: with ``enabled: false`` nothing else is needed."""
    check_group(key, diagnostics, DiagnosticsSettings, required=diagnostics.enabled is True)


@dataclass(frozen=True)
class PhysicsSettings:
    samples: int = _whole(minimum=0, hint="(0: no re-simulation)")
    batch_size: int = _whole()


@dataclass(frozen=True)
class TrainSettings:
    """train.yaml: the top-level keys and one field per group."""

    CONFIG: ClassVar[str] = "train.yaml"

    seed: int = _whole(minimum=0)
    lr: float = _number("positive")
    weight_decay: float = _number("non-negative")
    optimized_metric: str = _may_be_absent(_kind(TEXT, "best_* or final_* of metrics.json"))  # hparams_search
    model: ModelSettings = _group(ModelSettings, closed=False)
    data: DataSettings = field(metadata={"check": _data})
    optimizer: OptimizerSettings = _group(OptimizerSettings, closed=False)
    scheduler: SchedulerSettings = _group(SchedulerSettings, closed=False)
    loss: dict[str, float] = field(metadata={"check": _loss})
    trainer: TrainerSettings = _group(TrainerSettings)
    logger: LoggerSettings = field(metadata={"check": _logger})
    diagnostics: DiagnosticsSettings = field(metadata={"check": check_diagnostics_settings})
    physics: PhysicsSettings = _group(PhysicsSettings)


NORMALIZATIONS = ("checkpoint", "data")  # a trained model's inputs: the constants it was trained with, or the data's


@dataclass(frozen=True)
class CheckpointTaskSettings:
    """The keys of every task that reads a trained model (evaluate, render_activations, loss_landscape)."""

    checkpoint: str = _kind(TEXT, "a checkpoint file")
    normalization: str = _choice(NORMALIZATIONS, message=f"is not one of {NORMALIZATIONS}")
    split: str = _any()  # train | val: data.build names the splits
    device: str = field(metadata={"check": lambda key, value: _device(key, value)})
    model: ModelSettings = _may_be_absent(_group(ModelSettings, closed=False))  # an OpenFWI checkpoint's
    data: DataSettings = _may_be_absent(field(metadata={"check": _data}))  # absent: the checkpoint's own


@dataclass(frozen=True)
class EvaluateSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "evaluate.yaml"
    batch_size: int | None = _whole(optional=True)
    physics: PhysicsSettings = _group(PhysicsSettings)
    logger: LoggerSettings = field(metadata={"check": _logger})


@dataclass(frozen=True)
class RenderSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "render_activations.yaml"
    sample: int = _whole(minimum=0)
    diagnostics: DiagnosticsSettings = field(metadata={"check": check_diagnostics_settings})


@dataclass(frozen=True)
class LandscapeSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "loss_landscape.yaml"
    samples: int = _whole()
    batch_size: int = _whole()
    range: float = _number("positive")
    points_1d: int = _whole()
    points_2d: int = _whole()
    seed: int = _whole(minimum=0)
    logger: LoggerSettings = field(metadata={"check": _logger})


@dataclass(frozen=True)
class BaselineSettings:
    top_ms: float | None = _number("positive", optional=True)
    bottom_ms: float | None = _number("positive", optional=True)


@dataclass(frozen=True)
class RefineTaskSettings(CheckpointTaskSettings):
    CONFIG: ClassVar[str] = "refine.yaml"
    samples: int = _whole()
    iterations: int = _any()  # these five: RefineSettings.of, in check_refine
    step_ms: float = _any()
    frequencies_hz: list = _any()
    smoothing_cells: float = _any()
    depth_scaling: float = _any()
    batch_size: int = _whole()
    baseline: BaselineSettings = _group(BaselineSettings)
    pictures: int = _whole(minimum=0)
    logger: LoggerSettings = field(metadata={"check": _logger})


def _family(key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{key}={value!r} must be a family name")
    recipe_for(value)


@dataclass(frozen=True)
class GenerateSettings:
    CONFIG: ClassVar[str] = "generate_data.yaml"
    family: str = field(metadata={"check": _family})
    n_train: int = _whole()
    n_val: int = _whole()
    samples_per_file: int = _whole()  # at most 500: GenerationPlan
    seed: int = _whole(minimum=0)
    out: str = _kind(TEXT, "a folder")
    device: str = field(metadata={"check": lambda key, value: _device(key, value)})
    batch_size: int = _whole()
    report: bool = _kind(bool, "true or false")
    preview: bool = _kind(bool, "true or false")
    preview_samples: int = _whole()
    progress: bool = _kind(bool, "true or false")


@dataclass(frozen=True)
class ExportSettings:
    CONFIG: ClassVar[str] = "export_openfwi.yaml"
    checkpoint: str = _kind(TEXT, "a checkpoint file")
    out: str = _kind(TEXT, "a file to write")


@dataclass(frozen=True)
class CompareRepresentationsSettings:
    CONFIG: ClassVar[str] = "compare_representations.yaml"
    a: str = _kind(TEXT, "a run directory or a checkpoint file")
    b: str = _kind(TEXT, "a run directory or a checkpoint file")
    samples: int = _whole()
    split: str = _any()  # train | val: data.build names the splits
    device: str = field(metadata={"check": lambda key, value: _device(key, value)})
    logger: LoggerSettings = field(metadata={"check": _logger})


def _path(group: str, key: str) -> str:
    return f"{group}.{key}" if group else key


def check_group(name: str, node: DictConfig, schema: type, closed: bool = True, required: bool | None = None) -> None:
    """Refuse a key ``schema`` does not declare (``closed``) and check every declared key that ``node`` holds;
    ``required`` (by default: ``closed``): a declared key must be there, unless its field says it is optional."""
    declared = {item.name: item for item in fields(schema)}
    if closed:
        unknown = [key for key in node if key not in declared]
        if unknown:
            raise ConfigError(
                f"{_path(name, unknown[0])} is not a setting of {name or schema.CONFIG}; it has {', '.join(declared)}"
            )
    for key, item in declared.items():
        if key in node.keys():  # a mandatory ??? too: reading it says "Missing mandatory value"
            if not (item.metadata.get("optional") and node[key] is None):
                item.metadata["check"](_path(name, key), node[key])
        elif (closed if required is None else required) and not item.metadata.get("optional"):
            raise ConfigError(f"{_path(name, key)} is missing; the config must set it")


def check_settings(cfg: DictConfig, schema: type) -> None:
    """Every setting of a task's config (``schema``: its dataclass), before any data or checkpoint is read: one
    ``ConfigError`` naming the key and the value."""
    check_group("", cfg, schema)


def check_refine(cfg: DictConfig) -> None:
    """``check_settings`` for refine.yaml, and the optimizer's settings as refinement checks them."""
    check_settings(cfg, RefineTaskSettings)
    RefineSettings.of(cfg)


def check_train(cfg: DictConfig) -> None:
    """``check_settings`` for train.yaml, and what is wrong only in combination or for the model built."""
    check_settings(cfg, TrainSettings)
    trainer = cfg.trainer
    if trainer.max_steps is None:
        require_whole("trainer.epochs", trainer.epochs, hint="(or set trainer.max_steps)")
    if cfg.diagnostics.enabled and cfg.diagnostics.mode == "train" and trainer.distributed and trainer.sync_batchnorm:
        raise ConfigError(
            "diagnostics.mode=train with trainer.sync_batchnorm: only rank 0 snapshots, and synchronized "
            "BatchNorm would wait for the other ranks; use diagnostics.mode=eval"
        )
    with torch.device("meta"):  # the model's values, checked without memory, time or random draws
        model = build_model(cfg.model)
    if trainer.batch_size < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ConfigError(
            f"trainer.batch_size={trainer.batch_size} must be at least 2: BatchNorm needs two samples at the 1x1 "
            "bottleneck"
        )
