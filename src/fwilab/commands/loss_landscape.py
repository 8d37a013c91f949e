"""1-D and 2-D loss surfaces around a checkpoint's weights (filter-normalized directions):
`fwilab-loss-landscape checkpoint=PATH [samples=32 points_1d=21 points_2d=9 range=1.0]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import LandscapeSettings, read_settings
from fwilab.tasks.landscape import run_loss_landscape


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="loss_landscape")
@hydra_task
def main(cfg: DictConfig) -> dict:
    settings = read_settings(cfg, LandscapeSettings)  # before the checkpoint or any data is read
    return run_loss_landscape(settings, run_dir())


if __name__ == "__main__":
    main()
