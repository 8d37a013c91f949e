"""The config groups (``conf/<group>/``) as frozen values, and the values each setting allows.

A field's annotation is the setting's type and its metadata the check (``fwilab.config.checks``); the defaults are
the YAML's. The allowed values live here, below the components that use them (the fast path maps a precision to
its autocast dtype, the resident split a storage name to its dtype, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from omegaconf import DictConfig, ListConfig

from fwilab.config.checks import (
    OPTIONAL_TEXT,
    SWITCH,
    TEXT,
    choice,
    device,
    group,
    is_number,
    kind,
    nested,
    number,
    read_group,
    setting,
    unchecked,
    whole,
)
from fwilab.errors import ConfigError
from fwilab.metric_registry import VALIDATION_METRICS

Switch = Literal["auto", True, False]
PRECISIONS = ("fp32", "bf16", "fp16")  # trainer.precision besides auto
STORAGE_DTYPES = ("float32", "bfloat16", "float16")  # trainer.device_data_dtype besides auto: torch dtype names
MONITORED = (*VALIDATION_METRICS, "data_misfit")  # trainer.monitor's choices; data_misfit needs physics.samples > 0
CHECK_POLICIES = ("error", "warn", "off")  # data.check
MONTAGE_NORMALIZATIONS = ("per_channel", "shared")  # diagnostics.montage_normalization


def _workers(key: str, value: Any) -> None:
    if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ConfigError(f"{key}={value!r} must be auto or a whole number >= 0")


@dataclass(frozen=True)
class TrainerSettings:
    epochs: int | None = whole(optional=True, hint="(or set trainer.max_steps)")
    max_steps: int | None = whole(optional=True)
    batch_size: int = whole()
    eval_batch_size: int = whole()
    device: str = device()
    val_every_steps: int | None = whole(optional=True)
    log_every_steps: int = whole()
    num_workers: Literal["auto"] | int = setting(_workers)
    checkpoint_every_steps: int | None = whole(optional=True)
    keep_checkpoints: int = whole()
    monitor: str = choice(MONITORED, message=f"is not one of {MONITORED}")
    resume: str = kind(TEXT, "auto, never or a checkpoint path")
    grad_clip_norm: float | None = number(
        "positive", optional=True, message="must be a positive number (null: no clipping)"
    )
    skip_nonfinite_steps: int = whole(minimum=0)
    distributed: Switch = choice(**SWITCH)
    backend: Literal["auto", "nccl", "gloo"] = choice(("auto", "nccl", "gloo"))
    sync_batchnorm: bool = kind(bool, "true or false")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = choice(("auto", *PRECISIONS))
    channels_last: Switch = choice(**SWITCH)
    compile: Switch = choice(**SWITCH)
    cudnn_benchmark: Switch = choice(**SWITCH)
    data_on_device: Switch = choice(**SWITCH)
    device_data_dtype: Literal["auto", "float32", "bfloat16", "float16"] = choice(("auto", *STORAGE_DTYPES))


@dataclass(frozen=True)
class SyntheticSettings:
    family: str = kind(TEXT, "a family name")
    n_train: int = whole()
    n_val: int = whole()
    seed: int = whole(minimum=0)
    samples_per_file: int = whole()
    device: str = device()
    batch_size: int = whole()


def _check_policy(key: str, value: Any) -> None:
    if value not in CHECK_POLICIES:
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(CHECK_POLICIES)}")


def _synthetic(key: str, node: DictConfig | None) -> SyntheticSettings | None:
    return None if node is None else read_group(key, node, SyntheticSettings)


@dataclass(frozen=True)
class DataSettings:
    root: str = kind(TEXT, "a folder")
    family: str = kind(TEXT, "a family name")
    train_split: str | None = kind(OPTIONAL_TEXT, "a split file or null")
    val_split: str | None = kind(OPTIONAL_TEXT, "a split file or null")
    layout: dict[str, Any] | None = unchecked()  # fwilab.data.build.layout_from_config
    data_min: float | None = unchecked()  # null: the data set's metadata.json (fwilab.data.build.normalizer_for)
    data_max: float | None = unchecked()
    vel_min: float | None = number("positive", optional=True)
    vel_max: float | None = number("positive", optional=True)
    train_samples: int | None = whole(optional=True)
    val_samples: int | None = whole(optional=True)
    subset_seed: int = whole(minimum=0)
    check: Literal["error", "warn", "off"] = setting(_check_policy)
    synthetic: SyntheticSettings | None = nested(_synthetic)  # set: the generator makes the set under root


def read_data(node: DictConfig, key: str = "data") -> DataSettings:
    """A data config (a file of ``conf/data/``, or a checkpoint's saved one) as its checked value."""
    return read_group(key, node, DataSettings)


def _percentile(key: str, value: Any) -> None:
    if not (is_number(value) and 0 <= value < 50):
        raise ConfigError(f"{key}={value!r} must be in [0, 50)")


def _module_paths(key: str, value: Any) -> None:
    if not isinstance(value, ListConfig) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"{key}={value!r} must be a list of module paths such as ['deconv5_*']")


def _module_classes(key: str, value: Any) -> None:
    from hydra.utils import get_class  # hydra only where a config is checked: the renderers import this module
    from torch import nn

    for name in value:
        try:
            found = get_class(name)
        except Exception:
            found = None
        if not (isinstance(found, type) and issubclass(found, nn.Module)):
            raise ConfigError(f"{key}: {name!r} is not an importable torch.nn.Module class")


@dataclass(frozen=True)
class DiagnosticsSettings:
    enabled: bool = kind(bool, "true or false")
    every_n_steps: int = whole(minimum=0)
    types: tuple[str, ...] = setting(_module_classes)
    patterns: tuple[str, ...] = setting(_module_paths)
    max_samples: int = whole()
    max_channels: int = whole()
    mode: Literal["eval", "train"] = choice(("eval", "train"), message="is not 'eval' or 'train'")
    montage_normalization: str = choice(MONTAGE_NORMALIZATIONS, message=f"is not one of {MONTAGE_NORMALIZATIONS}")
    percentile: float = setting(_percentile)
    statistics: bool = kind(bool, "true or false")


def read_diagnostics(key: str, node: DictConfig) -> DiagnosticsSettings:
    """The diagnostics group of any task: with ``enabled: false`` nothing else is needed (the rest holds None)."""
    return read_group(key, node, DiagnosticsSettings, required=node.enabled is True)


@dataclass(frozen=True)
class LoggerSettings:
    backend: Literal["wandb", "none"] = choice(("wandb", "none"), message="is not 'wandb' or 'none'")


@dataclass(frozen=True)
class WandbSettings(LoggerSettings):
    project: str = kind(TEXT, "a W&B project name")
    entity: str | None = kind(OPTIONAL_TEXT, "a W&B entity or null")
    mode: str | None = kind(OPTIONAL_TEXT, "a W&B mode (offline, online, disabled) or null for W&B's own settings")
    group: str | None = kind(OPTIONAL_TEXT, "a group name or null")
    name: str | None = kind(OPTIONAL_TEXT, "a run name or null")
    tags: tuple[str, ...] = kind(ListConfig, "a list of names")
    log_checkpoint: bool = kind(bool, "true or false")
    init_timeout_s: float = number("positive")


def read_logger(key: str, node: DictConfig) -> LoggerSettings:
    """The logger group: its backend says which settings follow (W&B's, or none)."""
    read_group(key, node, LoggerSettings, closed=False)
    return read_group(key, node, WandbSettings if node.backend == "wandb" else LoggerSettings)


@dataclass(frozen=True)
class ModelSettings:  # and the arguments of model._target_, checked by building it on the meta device
    init_from: str | None = kind(OPTIONAL_TEXT, "a checkpoint path or null")


def _betas(key: str, value: Any) -> None:
    betas = list(value) if isinstance(value, ListConfig) else value
    if not (isinstance(betas, list) and len(betas) == 2 and all(is_number(x) and 0 <= x < 1 for x in betas)):
        raise ConfigError(f"{key}={betas} must be two numbers in [0, 1)")


@dataclass(frozen=True)
class OptimizerSettings:  # and the arguments of optimizer._target_
    lr: float = number("positive")
    weight_decay: float = number("non-negative")
    betas: tuple[float, float] = setting(_betas)


@dataclass(frozen=True)
class SchedulerSettings:  # and the arguments of scheduler._target_
    warmup_steps: int = whole(minimum=0)


def target_group(schema: type) -> Any:
    """A ``_target_`` group: ``schema``'s keys checked, the rest its target's arguments; it stays config."""
    return group(schema, closed=False)


def read_loss(key: str, loss: DictConfig) -> DictConfig:
    """The loss group (a ``_target_``): a negative weight ascends that term; NaN is let through (a run that diverges
    at once says so)."""
    for name, weight in loss.items():
        if not str(name).startswith("lambda_"):
            continue
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"{key}.{name}={weight!r} must be a number")
        if weight < 0:
            raise ConfigError(f"{key}.{name}={weight!r} must not be negative")
    return loss


def _frequencies(key: str, value: Any) -> None:
    """Cut-offs from low to high, the full band (null) only last."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{key}={value!r} must be a list of cut-offs in Hz (null: the full band)")
    stages = list(value)
    bands = [f for f in stages if f is not None]
    if not stages or not all(is_number(f) and f > 0 for f in bands) or bands != sorted(bands):
        raise ConfigError(
            f"{key}={stages} must list positive cut-offs in Hz from low to high (null: the full band, last)"
        )
    if None in stages[:-1]:
        raise ConfigError(f"{key}={stages}: the full band (null) can only come last")


# The coarsest model-gradient sampling, in 1 ms time steps: the gradient is the time integral of the forward wavefield
# times the adjoint one, each with energy up to ~45 Hz (3x the 15 Hz Ricker's peak, where its spectrum is 1.6% of
# the peak's), so their product reaches ~90 Hz and needs a sampling rate above that: 10 ms is 100 Hz (measured:
# gradients within 1e-4 of every step's at 10, off by 10-86% at 20).
MAX_GRADIENT_SAMPLING_INTERVAL = 10


def _sampling_interval(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GRADIENT_SAMPLING_INTERVAL:
        raise ConfigError(
            f"{key}={value!r} must be a whole number of time steps from 1 to {MAX_GRADIENT_SAMPLING_INTERVAL} "
            "(coarser sampling aliases the 15 Hz wavefields' gradient)"
        )


@dataclass(frozen=True)
class ObjectiveSettings:
    """What every objective of ``conf/objective/`` has: its name, which says which settings follow."""

    name: str = kind(TEXT, "an objective's name")


@dataclass(frozen=True)
class SupervisedSettings(ObjectiveSettings):
    """OpenFWI's ``train.py``: the velocity loss (the ``loss`` group) only."""


@dataclass(frozen=True)
class VelocityGANSettings(ObjectiveSettings):
    """OpenFWI's ``gan_train.py``: a WGAN-GP critic beside the model (the generator)."""

    n_critic: int = whole(hint="(critic steps per generator step)")
    critic_lr: float = number("positive")
    critic_betas: tuple[float, float] = setting(_betas)
    critic_weight_decay: float = number("non-negative")
    lambda_gp: float = number("non-negative")
    lambda_adv: float = number("non-negative")
    critic_init_from: str | None = kind(OPTIONAL_TEXT, "a checkpoint path or null")


def _fraction(key: str, value: Any) -> None:
    if not (is_number(value) and 0 <= value <= 1):
        raise ConfigError(f"{key}={value!r} must be a number from 0 to 1")


DATA_MISFITS = ("relative", "l1_l2")  # objective.misfit of objective=physics (fwilab.physics.data_loss)


@dataclass(frozen=True)
class PhysicsObjectiveSettings(ObjectiveSettings):
    """Physics-driven training (UPFWI): the data loss of the re-simulated map on every sample, plus the velocity
    loss on the labelled share (``fwilab.training.objectives.physics``; the choices in ``fwilab.physics.data_loss``)."""

    labelled_fraction: float = setting(_fraction)
    data_weight: float = number("non-negative")
    velocity_weight: float = number("non-negative")
    misfit: Literal["relative", "l1_l2"] = choice(DATA_MISFITS)
    frequencies_hz: tuple[float | None, ...] = setting(_frequencies)
    depth_scaling: float = number("non-negative")
    gradient_sampling_interval: int = setting(_sampling_interval)  # as refinement's: time steps between its samples


OBJECTIVES: dict[str, type[ObjectiveSettings]] = {
    "supervised": SupervisedSettings,
    "velocitygan": VelocityGANSettings,
    "physics": PhysicsObjectiveSettings,
}  # objective.name -> its settings; fwilab.training.objectives builds each


def read_objective(key: str, node: DictConfig) -> ObjectiveSettings:
    """The objective group: its ``name`` says which settings follow (``OBJECTIVES``)."""
    name = read_group(key, node, ObjectiveSettings, closed=False).name
    if name not in OBJECTIVES:
        raise ConfigError(f"{key}.name={name!r} is not one of {', '.join(OBJECTIVES)}")
    return read_group(key, node, OBJECTIVES[name])


@dataclass(frozen=True)
class PhysicsSettings:
    samples: int = whole(minimum=0, hint="(0: no re-simulation)")
    batch_size: int = whole()


@dataclass(frozen=True)
class RefineSettings:
    """How refinement (``fwilab.physics.refine``) steps: its budget, step, frequency stages and smoothing, and how
    much of the wave equation's work each iteration does (gradient sampling, record length)."""

    iterations: int = whole()
    step_ms: float = number("positive", message="must be a positive step in m/s")
    frequencies_hz: tuple[float | None, ...] = setting(_frequencies)  # None: the full band
    smoothing_cells: float = number("non-negative", message="must be 0 (no smoothing) or positive")
    depth_scaling: float = number("non-negative", message="must be 0 (none) or a positive power of depth")
    gradient_sampling_interval: int = setting(_sampling_interval)  # time steps between the gradient's samples
    record_s: float | None = number("positive", optional=True, message="must be a positive time in s (null: all)")


@dataclass(frozen=True)
class BaselineSettings:
    top_ms: float | None = number("positive", optional=True)
    bottom_ms: float | None = number("positive", optional=True)
