"""Generate an OpenFWI-format synthetic data set with deepwave (resumable):
`fwilab-generate-data family=curvefault_a n_train=1000 n_val=200 out=DIR [preview=true]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import GenerateSettings, read_settings
from fwilab.tasks.generate import generate_from_config


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="generate_data")
@hydra_task
def main(cfg: DictConfig) -> dict:
    return generate_from_config(read_settings(cfg, GenerateSettings))  # checked before any file is read or written


if __name__ == "__main__":
    main()
