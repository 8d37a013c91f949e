"""Train and validate one model: `fwilab-train [group=option ...] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.experiments.search import objective
from fwilab.training.loop import train


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@hydra_task
def main(cfg: DictConfig) -> dict | float:
    record = train(cfg, run_dir())
    metric = cfg.get("optimized_metric")
    return record if metric is None else objective(record, metric)


if __name__ == "__main__":
    main()
