"""Config composition: every group option composes and instantiates; `lr` feeds the optimizer."""

import importlib

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import get_class, instantiate

from fwilab.commands.train import main as train_command
from fwilab.data.synthetic import GENERATOR_VERSION
from fwilab.models import InversionNet, ReconstructionNet
from fwilab.models.build import build_model
from fwilab.training.train_settings import check_train
from helpers import CONF, compose_train


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_generated_data_names_one_family():
    cfg = compose_train("data.synthetic.family=flatvel_b")
    assert cfg.data.family == "flatvel_b" and "/synthetic/flatvel_b-n1000-200-seed0" in cfg.data.root


def test_default_data_root_follows_the_cache_variable_and_the_generation_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("FWILAB_DATA_DIR", str(tmp_path))
    cfg = compose_train("data.synthetic.n_train=64", "data.synthetic.seed=5")
    assert (
        cfg.data.root == f"{tmp_path}/synthetic/curvefault_a-n64-200-seed5-g{GENERATOR_VERSION}"
    )  # another set, another folder


@pytest.mark.parametrize(
    "overrides, expected",
    [  # OpenFWI's dataset_config.json: CurveFault-A -26.48 / 52.32, FlatVel-B -27.17 / 56.05
        (["data=curvefault_a", "data.root=/x"], (-26.48, 52.32)),
        (["data=flatvel_b", "data.root=/x"], (-27.17, 56.05)),
        ([], (-26.48, 52.32)),  # the generated default normalizes like the real family
        (["data.synthetic.family=flatvel_b"], (-27.17, 56.05)),
    ],
)
def test_real_and_generated_sets_normalize_with_the_published_constants(overrides, expected):
    cfg = compose_train(*overrides)
    assert (cfg.data.data_min, cfg.data.data_max) == expected


def test_a_family_without_published_constants_is_named():
    cfg = compose_train("data.synthetic.family=saltdome_a")
    with pytest.raises(Exception, match="saltdome_a.*known: curvefault_a"):
        _ = cfg.data.data_min


@pytest.mark.parametrize("option", _options("optimizer"))
def test_every_optimizer_takes_the_top_level_lr(option):
    cfg = compose_train(f"optimizer={option}", "lr=3e-4", "weight_decay=0.02")
    optimizer = instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)
    assert optimizer.param_groups[0]["weight_decay"] == pytest.approx(
        0.02
    )  # the search's weight decay reaches every optimizer
    assert {"adam": "Adam", "adamw": "AdamW", "lamb": "Lamb"}[option] == type(optimizer).__name__


@pytest.mark.parametrize("option", _options("scheduler"))
def test_every_scheduler_builds_for_a_step_budget(option):
    cfg = compose_train(f"scheduler={option}")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = instantiate(cfg.scheduler)(optimizer, total_steps=100)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR)


@pytest.mark.parametrize("option, kind", [("inversionnet", InversionNet), ("reconstruction", ReconstructionNet)])
@pytest.mark.parametrize("width", [16, 32, 64])
def test_model_width_is_one_override(option, kind, width):
    cfg = compose_train(f"model={option}", f"model.base_channels={width}")
    model = build_model(cfg.model)
    assert isinstance(model, kind)
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.out_channels == width


def test_every_data_option_composes_with_the_contract_keys():
    options = [name for name in _options("data") if not name.startswith("_")]
    assert len(options) == 12  # ten OpenFWI families and two generated sets
    for option in options:
        cfg = compose_train(f"data={option}")
        assert {"family", "root", "train_split", "val_split", "data_min", "data_max", "subset_seed", "check"} <= set(
            cfg.data.keys()
        )
        assert (cfg.data.synthetic is None) == (cfg.data.layout is not None), option


def test_loss_and_trainer_groups_instantiate():
    cfg = compose_train("loss.lambda_g2v=0.5", "trainer.max_steps=7")
    loss = instantiate(cfg.loss)
    assert loss.lambda_g1v == 1.0 and loss.lambda_g2v == 0.5 and cfg.trainer.max_steps == 7


def test_slurm_launcher_config_resolves_for_a_multi_gpu_sweep():
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.partition=gpu",
                "hydra.launcher.gpus_per_node=4",
                "trainer=ddp",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert isinstance(get_class(launcher._target_), type)  # the plugin is installed and the target imports
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4  # one task per GPU follows the override
    assert launcher.submitit_folder.endswith("/.submitit/%j")


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({"FWILAB_DATA_DIR": "{tmp}/mine"}, "{tmp}/mine"),
        ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/xdg/fwilab"),
        ({}, "{tmp}/home/.cache/fwilab"),
    ],
)
def test_the_default_data_and_the_optuna_study_live_in_the_user_cache_wherever_the_command_starts(
    monkeypatch, tmp_path, environment, expected
):
    for name in ("FWILAB_DATA_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cache = expected.format(tmp=tmp_path)
    roots, studies = set(), set()
    for working_directory in (tmp_path / "a", tmp_path / "b"):
        working_directory.mkdir()
        monkeypatch.chdir(working_directory)
        with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
            cfg = compose(config_name="train", overrides=["hparams_search=optuna_lr"], return_hydra_config=True)
        roots.add(cfg.data.root)
        studies.add(cfg.hydra.sweeper.storage)
    assert roots == {f"{cache}/synthetic/curvefault_a-n1000-200-seed0-g{GENERATOR_VERSION}"}
    assert studies == {f"sqlite:///{cache}/optuna/fwilab_optuna_lr.db"}


@pytest.mark.parametrize(
    "overrides",
    [
        *(
            [f"{group}={option}"]
            for group in ("model", "data", "optimizer", "scheduler", "logger", "diagnostics")
            for option in _options(group)
            if not option.startswith("_")
        ),
        ["trainer=ddp"],
        ["debug=smoke"],
        ["experiment=baseline_comparison"],
        ["hparams_search=optuna_lr"],
        ["seed=0", "weight_decay=0", "trainer.batch_size=2", "trainer.grad_clip_norm=0.5", "trainer.device=cuda:1"],
    ],
)
def test_every_shipped_option_and_the_limits_pass_the_settings_check(overrides):
    """The declared settings accept every option fwilab ships (real data sets: with a data.root)."""
    real_data = any(o.startswith("data=") and not o.startswith("data=synthetic") for o in overrides)
    check_train(compose_train(*overrides, *(["data.root=/data/openfwi"] if real_data else [])))


@pytest.mark.parametrize(
    "override, line",
    [
        ("seed=abc", "seed='abc' must be a whole number of at least 0"),
        ("seed=1.5", "seed=1.5 must be a whole number of at least 0"),
        ("seed=-1", "seed=-1 must be a whole number of at least 0"),
        ("weight_decay=-1", "weight_decay=-1 must not be negative"),
        ("trainer.grad_clip_norm=abc", "trainer.grad_clip_norm='abc' must be a positive number (null: no clipping)"),
        ("data.subset_seed=abc", "data.subset_seed='abc' must be a whole number of at least 0"),
        ("trainer.skip_nonfinite_steps=abc", "trainer.skip_nonfinite_steps='abc' must be a whole number of at least 0"),
        (
            "trainer.batch_size=1",
            "trainer.batch_size=1 must be at least 2: BatchNorm needs two samples at the 1x1 bottleneck",
        ),
        ("trainer.precision=fp8", "trainer.precision='fp8' is not one of auto, fp32, bf16, fp16"),
        ("trainer.compile=1", "trainer.compile=1 must be auto, true or false"),
        ("+trainer.foo=1", "trainer.foo is not a setting of trainer; it has epochs, max_steps, batch_size,"),
        ("+data.synthetic.colour=red", "data.synthetic.colour is not a setting of data.synthetic; it has family,"),
        ("+foo=1", "foo is not a setting of train.yaml; it has seed, lr, weight_decay, optimized_metric, model,"),
    ],
)
def test_a_wrong_setting_is_one_error_line_before_any_data(override, line, tmp_path, monkeypatch, capsys):
    """fwilab-train in this process, on the default (generated) data set: the one line names the key and the
    value, and the data set is not generated first."""
    monkeypatch.setenv("FWILAB_DATA_DIR", str(tmp_path / "cache"))  # where the default data set would be generated
    with pytest.raises(SystemExit) as ended:
        train_command(compose_train(override))
    error = capsys.readouterr().err
    assert ended.value.code == 1 and error.startswith(f"error: {line}") and error.count("\n") == 1, error
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "command, overrides, line",
    [
        (
            "evaluate",
            ["physics.samples=-1"],
            "physics.samples=-1 must be a whole number of at least 0 (0: no re-simulation)",
        ),
        ("evaluate", ["normalization=own"], "normalization='own' is not one of ('checkpoint', 'data')"),
        ("evaluate", ["+foo=1"], "foo is not a setting of evaluate.yaml; it has checkpoint, normalization, split,"),
        ("render_activations", ["diagnostics.mode=sideways"], "diagnostics.mode='sideways' is not 'eval' or 'train'"),
        ("loss_landscape", ["range=0", "logger=none"], "range=0 must be a positive number"),
    ],
)
def test_each_checkpoint_task_refuses_a_wrong_setting_before_reading_the_checkpoint(
    command, overrides, line, tmp_path, capsys
):
    """The checkpoint does not exist: reading it first would end with another line."""
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(config_name=command, overrides=[f"checkpoint={tmp_path / 'missing.pt'}", *overrides])
    with pytest.raises(SystemExit) as ended:
        importlib.import_module(f"fwilab.commands.{command}").main(cfg)
    error = capsys.readouterr().err
    assert ended.value.code == 1 and error.startswith(f"error: {line}") and error.count("\n") == 1, error


@pytest.mark.parametrize(
    "command, overrides, line",
    [
        ("generate_data", ["n_train=abc"], "n_train='abc' must be a whole number of at least 1"),
        ("generate_data", ["family=curvefault_z"], "family='curvefault_z' has no synthetic generator"),
        ("generate_data", ["preview=yes"], "preview='yes' must be true or false"),
        ("generate_data", ["+colour=red"], "colour is not a setting of generate_data.yaml; it has family,"),
        ("export_openfwi", ["checkpoint=1"], "checkpoint=1 must be a checkpoint file"),
        ("compare_representations", ["samples=0"], "samples=0 must be a whole number of at least 1"),
        ("compare_representations", ["logger=none", "+logger.mode=x"], "logger.mode is not a setting of logger"),
    ],
)
def test_tasks_without_a_checkpoint_refuse_a_wrong_setting_before_any_file(command, overrides, line, tmp_path, capsys):
    """Nothing is generated, read or written: the folder named by out= (or a, b) does not exist afterwards."""
    given = {
        "generate_data": [f"out={tmp_path / 'set'}"],
        "export_openfwi": [f"out={tmp_path / 'm.pth'}"],
        "compare_representations": [f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}"],
    }
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(config_name=command, overrides=[*given[command], *overrides])
    with pytest.raises(SystemExit) as ended:
        importlib.import_module(f"fwilab.commands.{command}").main(cfg)
    error = capsys.readouterr().err
    assert ended.value.code == 1 and error.startswith(f"error: {line}") and error.count("\n") == 1, error
    assert not list(tmp_path.iterdir())
