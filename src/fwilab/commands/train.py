"""Train and validate one model: `fwilab-train [group=option ...] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir, start_run_files
from fwilab.commands import CONFIG_PATH
from fwilab.tasks.train import train_task
from fwilab.training.train_settings import check_train


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@hydra_task
def main(cfg: DictConfig) -> dict | float:
    # checked before any data is read or generated; Hydra's record is written once the resume is checked
    return train_task(check_train(cfg), run_dir(), started=start_run_files)


if __name__ == "__main__":
    main()
