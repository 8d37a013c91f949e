"""Wave-equation refinement of a checkpoint's predictions, beside FWI from a 1-D start:
`fwilab-refine checkpoint=PATH [split=val samples=4 iterations=100]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir, start_run_files
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import RefineTaskSettings, read_settings
from fwilab.tasks.refine import run_refine


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="refine")
@hydra_task
def main(cfg: DictConfig) -> dict:
    # checked before the checkpoint is read; the run's record and log are written once a resume is known to match
    return run_refine(read_settings(cfg, RefineTaskSettings), run_dir(), start_run_files)


if __name__ == "__main__":
    main()
