"""Optional parts of fwilab (pyproject.toml's extras): the core runs without them, and using one that is missing is
one error line naming the extra to install. A missing package is faked with ``sys.modules[name] = None``."""

import sys

import pytest
import torch
from hydra.utils import instantiate

from fwilab.errors import ConfigError
from helpers import compose_train


def _without(monkeypatch, package: str) -> None:
    for name in [name for name in sys.modules if name == package or name.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)  # import now raises ModuleNotFoundError


def test_lamb_is_torch_optimizers_and_names_its_extra_when_missing(monkeypatch):
    build = instantiate(compose_train("optimizer=lamb").optimizer)
    parameters = [torch.nn.Parameter(torch.zeros(3))]
    assert type(build(parameters)).__module__.startswith("torch_optimizer")
    _without(monkeypatch, "torch_optimizer")
    with pytest.raises(ConfigError, match=r"optimizer=lamb needs torch_optimizer.*pip install 'fwilab\[lamb\]'"):
        build(parameters)


def test_the_dashboard_without_wandb_workspaces_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    from fwilab.commands.dashboard import main

    _without(monkeypatch, "wandb_workspaces")
    monkeypatch.delitem(sys.modules, "fwilab.experiments.dashboard", raising=False)
    monkeypatch.setattr(sys, "argv", ["fwilab-dashboard", str(tmp_path)])
    assert main() == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "error: a W&B report (fwilab-dashboard) needs wandb_workspaces" in error
    assert "pip install 'fwilab[reports]'" in error
