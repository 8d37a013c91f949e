"""Write a trained InversionNet in OpenFWI's format: `fwilab-export-openfwi checkpoint=PATH out=model.pth`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import ExportSettings, read_settings
from fwilab.tasks.export_openfwi import export_openfwi_checkpoint


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="export_openfwi")
@hydra_task
def main(cfg: DictConfig) -> str:
    settings = read_settings(cfg, ExportSettings)  # before any file is read or written
    return str(export_openfwi_checkpoint(settings))


if __name__ == "__main__":
    main()
