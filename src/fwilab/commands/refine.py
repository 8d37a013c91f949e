"""Wave-equation refinement of a checkpoint's predictions, beside FWI from a 1-D start:
`fwilab-refine checkpoint=PATH [split=val samples=4 iterations=100]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.settings import check_refine
from fwilab.tasks.refine import run_refine


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="refine")
@hydra_task
def main(cfg: DictConfig) -> dict:
    check_refine(cfg)  # before the checkpoint or any data is read
    return run_refine(cfg, run_dir())


if __name__ == "__main__":
    main()
