"""Train and validate one model: `python scripts/train.py [group=option ...] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_task, run_dir
from fwilab.training.loop import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@hydra_task
def main(cfg: DictConfig) -> dict:
    return train(cfg, run_dir())


if __name__ == "__main__":
    main()
