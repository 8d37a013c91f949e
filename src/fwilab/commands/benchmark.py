"""Measure training throughput side by side (see conf/benchmark.yaml): `fwilab-benchmark [overrides]`.
Writes benchmark.json and benchmark.md to the run directory and prints the table."""

import hydra
from omegaconf import DictConfig

from fwilab.benchmarking import markdown_table, run_benchmarks
from fwilab.cli import hydra_command, hydra_task, run_dir
from fwilab.commands import CONFIG_PATH
from fwilab.io import write_json


@hydra_command
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="benchmark")
@hydra_task
def main(cfg: DictConfig) -> dict:
    result = run_benchmarks(cfg.benchmark, cfg, run_dir())
    table = markdown_table(result)
    write_json(run_dir() / "benchmark.json", result)
    (run_dir() / "benchmark.md").write_text(table + "\n")
    print(table)
    return result


if __name__ == "__main__":
    main()
