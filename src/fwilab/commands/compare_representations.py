"""Layer x layer linear CKA between two trained models on the same probe samples:
`fwilab-compare-representations a=RUN_DIR b=RUN_DIR [samples=64]` writes cka.png, cka.json and cka.csv."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import CompareRepresentationsSettings, read_settings
from fwilab.tasks.representations import compare_and_log


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="compare_representations")
@hydra_task
def main(cfg: DictConfig) -> str:
    settings = read_settings(cfg, CompareRepresentationsSettings)  # before any file is read or written
    return str(compare_and_log(settings, run_dir()))


if __name__ == "__main__":
    main()
