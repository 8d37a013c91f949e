"""Train and validate one model: `fwilab-train [group=option ...] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.settings import check_train
from fwilab.tasks.train import train_task


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@hydra_task
def main(cfg: DictConfig) -> dict | float:
    check_train(cfg)  # before any data is read or generated
    return train_task(cfg, run_dir())


if __name__ == "__main__":
    main()
