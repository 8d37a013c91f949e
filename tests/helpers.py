"""Helpers shared by test modules (imported as ``helpers``; fixtures stay in conftest.py)."""

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf, open_dict


def task_config(task: str, checkpoint, logger: str = "none", **overrides) -> DictConfig:
    """``conf/<task>.yaml`` (a task with a logger) as its command composes it for ``checkpoint``, on the CPU, with
    ``logger`` (none: no W&B), ``overrides`` merged (nested dicts merge into their groups)."""
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(config_name=task, overrides=[f"checkpoint={checkpoint}", "device=cpu", f"logger={logger}"])
    with open_dict(cfg):
        return OmegaConf.merge(cfg, overrides)
