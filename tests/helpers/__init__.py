"""Helpers shared by test modules (imported as ``helpers``; fixtures stay in conftest.py): where the project lies,
the configs the tests compose, the commands they run as a user does, and what a W&B run recorded."""

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf, open_dict

from fwilab.config.checks import read_group
from fwilab.config.groups import RefineSettings
from fwilab.tasks.train import train_task
from fwilab.training.train_settings import check_train

ROOT = Path(__file__).resolve().parents[2]
CONF = Path(str(resources.files("fwilab.conf")))  # where the product reads its configs (the package)
WANDB_CLI = Path(sys.executable).parent / "wandb"
TINY_MODEL = ["model=reconstruction", "model.base_channels=8", "trainer.batch_size=4", "trainer.device=cpu"]


def compose_train(*overrides: str) -> DictConfig:
    """The train.yaml config with ``overrides``, as `scripts/train.py` would see it."""
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def tiny_train_config(data_root: Path, *overrides: str) -> DictConfig:
    """A fast training config on ``data_root`` (a generated data set): small model, few steps, CPU."""
    cfg = compose_train(
        "model=reconstruction",
        "model.base_channels=8",
        "trainer.device=cpu",
        "trainer.batch_size=4",
        "trainer.eval_batch_size=8",
        "trainer.log_every_steps=2",
        "scheduler.warmup_steps=2",
        *overrides,
    )
    with open_dict(cfg):
        cfg.data.root = str(data_root)
        cfg.data.family = cfg.data.synthetic.family  # the generated set's family, kept once generation is off
        cfg.data.synthetic = None
    return cfg


def task_config(task: str, checkpoint, logger: str = "none", **overrides) -> DictConfig:
    """``conf/<task>.yaml`` (a task with a logger) as its command composes it for ``checkpoint``, on the CPU, with
    ``logger`` (none: no W&B), ``overrides`` merged (nested dicts merge into their groups)."""
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(config_name=task, overrides=[f"checkpoint={checkpoint}", "device=cpu", f"logger={logger}"])
    with open_dict(cfg):
        return OmegaConf.merge(cfg, overrides)


def train_as_the_command_does(cfg: DictConfig, run_dir) -> dict:
    """fwilab-train's order: the settings (check_train), then the run, which checks what needs the data."""
    return train_task(check_train(cfg), run_dir)


def tiny_data_args(root: Path) -> list[str]:
    """The command-line overrides that point a command at the tiny generated set in ``root``."""
    return ["data=curvefault_a", f"data.root={root}", "data.train_split=train.txt", "data.val_split=val.txt"]


def files_in(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path -> content): a run directory to compare before and after."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def run_script(script: str, *args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``scripts/<script>`` with ``args`` in a subprocess, as a user runs it; ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def wandb_records(run_dir: Path, wandb_file: Path | None = None) -> list[dict]:
    """The records of ``run_dir``'s offline W&B run (or of ``wandb_file``), read with W&B's own reader."""
    if wandb_file is None:
        [wandb_file] = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    inspected = subprocess.run(
        [str(WANDB_CLI), "leet", "inspect", "--json", str(wandb_file)], capture_output=True, text=True, timeout=120
    )
    assert inspected.returncode == 0, inspected.stderr
    return [json.loads(line) for line in inspected.stdout.splitlines() if line.strip()]


def evaluate_config(checkpoint, **physics) -> DictConfig:
    """The evaluate task's config for ``checkpoint`` with ``physics`` (the data-domain scoring) set."""
    return task_config("evaluate", checkpoint, physics=physics)


def refine_settings(**changes) -> RefineSettings:
    """refine.yaml's refinement settings (its defaults) with ``changes``, read as the refine task reads them."""
    return read_group("", OmegaConf.merge(OmegaConf.load(CONF / "refine.yaml"), changes), RefineSettings, closed=False)


def refine_config(checkpoint, **overrides) -> DictConfig:
    """The refine task's config for ``checkpoint`` with ``overrides``."""
    return task_config("refine", checkpoint, **overrides)
