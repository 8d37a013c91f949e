"""Helpers shared by test modules (imported as ``helpers``; fixtures stay in conftest.py)."""

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf, open_dict

from fwilab.settings import check_train
from fwilab.tasks.train import train_task


def task_config(task: str, checkpoint, logger: str = "none", **overrides) -> DictConfig:
    """``conf/<task>.yaml`` (a task with a logger) as its command composes it for ``checkpoint``, on the CPU, with
    ``logger`` (none: no W&B), ``overrides`` merged (nested dicts merge into their groups)."""
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(config_name=task, overrides=[f"checkpoint={checkpoint}", "device=cpu", f"logger={logger}"])
    with open_dict(cfg):
        return OmegaConf.merge(cfg, overrides)


def train_as_the_command_does(cfg: DictConfig, run_dir) -> dict:
    """fwilab-train's order: the settings (fwilab.settings), then the run, which checks what needs the data."""
    check_train(cfg)
    return train_task(cfg, run_dir)
