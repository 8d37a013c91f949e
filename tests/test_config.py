"""Config composition: every group option composes and instantiates; `lr` feeds the optimizer."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from conftest import CONF, compose_train
from fwilab.models import InversionNet, ReconstructionNet


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_default_config_is_the_embedded_synthetic_run():
    cfg = compose_train()
    assert cfg.data.synthetic.family == "curvefault_a" and cfg.data.train_split == "train.txt"
    assert cfg.model._target_ == "fwilab.models.InversionNet"
    assert cfg.trainer.device == "auto" and cfg.trainer.max_steps is None


@pytest.mark.parametrize("option", _options("optimizer"))
def test_every_optimizer_takes_the_top_level_lr(option):
    cfg = compose_train(f"optimizer={option}", "lr=3e-4", "weight_decay=0.02")
    optimizer = instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)
    assert optimizer.param_groups[0]["weight_decay"] == (0.0 if option == "adam" else pytest.approx(0.02))
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
    model = instantiate(cfg.model)
    assert isinstance(model, kind)
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.out_channels == width


@pytest.mark.parametrize("option", _options("data"))
def test_every_data_option_composes_with_the_contract_keys(option):
    cfg = compose_train(f"data={option}", "data.train_samples=5000", "data.val_samples=500")
    for key in ("family", "root", "train_split", "val_split", "data_min", "data_max", "train_samples", "val_samples"):
        assert key in cfg.data.keys()
    if cfg.data.synthetic is None:  # an OpenFWI family: published constants and the official split
        assert cfg.data.family == option and cfg.data.data_min < 0 < cfg.data.data_max
        first, last = cfg.data.val_files
        assert first == cfg.data.train_files[1] + 1 and last > first
    else:  # generated on first use: constants come from its metadata
        assert cfg.data.data_min is None and cfg.data.synthetic.n_train >= 1000


def test_openfwi_curvefault_a_official_split():
    cfg = compose_train("data=curvefault_a")
    assert list(cfg.data.train_files) == [1, 96] and list(cfg.data.val_files) == [97, 108]
    assert (cfg.data.data_min, cfg.data.data_max) == (-26.48, 52.32)


def test_loss_and_trainer_groups_instantiate():
    cfg = compose_train("loss.lambda_g2v=0.5", "trainer.max_steps=7")
    loss = instantiate(cfg.loss)
    assert loss.lambda_g1v == 1.0 and loss.lambda_g2v == 0.5 and cfg.trainer.max_steps == 7


def test_slurm_launcher_config_resolves_for_a_multi_gpu_sweep():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4", "trainer=ddp"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 4 and launcher.tasks_per_node == 4
    assert launcher.signal_delay_s == 120 and launcher.max_num_timeout == 3 and launcher.timeout_min == 240
    assert launcher.submitit_folder.endswith("/.submitit/%j")
    assert cfg.trainer.distributed and cfg.trainer.sync_batchnorm and cfg.trainer.batch_size == 8
