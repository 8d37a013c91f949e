"""Render every hooked layer of a checkpoint for one sample:
`fwilab-render-activations checkpoint=PATH sample=3 [split=val] [data=FAMILY data.root=DIR]`."""

import hydra
from omegaconf import DictConfig

from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.config.tasks import RenderSettings, read_settings
from fwilab.tasks.render import render_checkpoint_sample


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="render_activations")
@hydra_task
def main(cfg: DictConfig) -> str:
    settings = read_settings(cfg, RenderSettings)  # before the checkpoint or any data is read
    return str(render_checkpoint_sample(settings, run_dir()))


if __name__ == "__main__":
    main()
