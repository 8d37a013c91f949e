"""Generate an OpenFWI-format synthetic data set with deepwave (resumable):
`fwilab-generate-data family=curvefault_a n_train=1000 n_val=200 out=DIR [preview=true]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task
from fwilab.commands import CONFIG_PATH
from fwilab.settings import GenerateSettings, check_settings
from fwilab.tasks.generate import generate_from_config


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="generate_data")
@hydra_task
def main(cfg: DictConfig) -> dict:
    check_settings(cfg, GenerateSettings)  # before any file is read or written
    return generate_from_config(cfg)


if __name__ == "__main__":
    main()
