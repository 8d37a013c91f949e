"""Optional parts of fwilab (pyproject.toml's extras): the core runs without them, and using one that is missing is
one error line naming the extra to install. A missing package is faked with ``sys.modules[name] = None``."""

import sys

import pytest
import torch
from hydra.utils import instantiate

from fwilab.cli import check_plugin_extras
from fwilab.errors import ConfigError
from helpers import compose_train, run_script


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


PLUGINS = [
    ("hydra/launcher=slurm", "hydra_plugins.hydra_submitit_launcher", "cluster"),
    ("hydra/launcher=submitit_local", "hydra_plugins.hydra_submitit_launcher", "cluster"),
    ("hydra/sweeper=optuna", "hydra_plugins.hydra_optuna_sweeper", "sweep"),
    ("hparams_search=optuna_lr", "hydra_plugins.hydra_optuna_sweeper", "sweep"),
]


def _plugin_refusal(override: str, plugin: str, extra: str) -> str:
    return (
        f"{override} needs {plugin}, which fwilab installs as an extra: pip install 'fwilab[{extra}]' "
        f"(from a clone: pip install -e '.[{extra}]')"
    )


@pytest.mark.parametrize("override, plugin, extra", PLUGINS)
def test_a_hydra_plugin_override_names_its_extra_when_the_plugin_is_missing(monkeypatch, override, plugin, extra):
    check_plugin_extras(["-m", override, "lr=0.1"])  # installed (the dev extra): nothing to say
    _without(monkeypatch, plugin)
    with pytest.raises(ConfigError) as refused:
        check_plugin_extras(["-m", "lr=0.1", override])
    assert str(refused.value) == _plugin_refusal(override, plugin, extra)
    check_plugin_extras(["-m", "hydra/launcher=basic", "optimizer=adamw"])  # other options need no plugin


@pytest.mark.slow
@pytest.mark.parametrize("override, plugin, extra", [PLUGINS[0], PLUGINS[3]])
def test_a_sweep_with_a_missing_plugin_is_one_line_naming_the_extra(tmp_path, override, plugin, extra):
    """The plugin hidden as if not installed (sitecustomize on PYTHONPATH), the command prints one line, not Hydra's
    'Could not load' with its search path, and writes nothing."""
    (tmp_path / "sitecustomize.py").write_text(f"import sys\n\nsys.modules[{plugin!r}] = None\n")
    result = run_script(
        "train.py",
        "-m",
        override,
        "logger=none",
        "hydra.sweep.dir=sweep",
        env={"PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
    )
    assert result.returncode == 1 and result.stderr == f"error: {_plugin_refusal(override, plugin, extra)}\n"
    assert not (tmp_path / "sweep").exists()
