"""Score a checkpoint on a split: `fwilab-evaluate checkpoint=PATH [data=FAMILY] [split=val]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import EvaluateSettings, read_settings
from fwilab.tasks.evaluate import evaluate_checkpoint


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="evaluate")
@hydra_task
def main(cfg: DictConfig) -> dict:
    settings = read_settings(cfg, EvaluateSettings)  # before the checkpoint or any data is read
    return evaluate_checkpoint(settings, run_dir())


if __name__ == "__main__":
    main()
