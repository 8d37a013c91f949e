"""Train and validate one model: `fwilab-train [group=option ...] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.experiments.search import objective
from fwilab.settings import check_train
from fwilab.training.loop import train


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@hydra_task
def main(cfg: DictConfig) -> dict | float:
    check_train(cfg)  # before any data is read or generated
    record = train(cfg, run_dir())
    metric = cfg.get("optimized_metric")  # set only by hparams_search
    return record if metric is None else objective(record, metric)


if __name__ == "__main__":
    main()
