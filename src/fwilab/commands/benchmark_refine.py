"""Seconds per refinement iteration per sample before and after the cheaper settings, side by side in one process:
`fwilab-benchmark-refine [--samples 4] [--iterations 12] [--repeats 3] [--out benchmark_refine.json]`.

"before": conf/refine.yaml with every time step's gradient over the whole record (gradient_sampling_interval=1,
record_s=null), as refinement ran until then; "after": conf/refine.yaml as it is; "after, batch 1": the same with one
sample per propagation. Each refines the same generated maps through all frequency stages; prints the JSON it writes.
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

from hydra import compose, initialize_config_module

from fwilab.benchmarking.refinement import refinement_cost
from fwilab.config.groups import RefineSettings
from fwilab.config.tasks import RefineTaskSettings, read_settings
from fwilab.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=12, help="per configuration and repeat (3 stages)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--family", default="curvefault_a")
    parser.add_argument("--out", type=Path, default=Path("benchmark_refine.json"))
    args = parser.parse_args()
    with initialize_config_module(config_module="fwilab.conf", version_base="1.3"):
        cfg = compose(config_name="refine", overrides=["checkpoint=unused", f"iterations={args.iterations}"])
    task = read_settings(cfg, RefineTaskSettings)
    after = RefineSettings(**{name: getattr(task, name) for name in RefineSettings.__dataclass_fields__})
    before = replace(after, gradient_sampling_interval=1, record_s=None)
    configurations = {
        "before": (before, task.batch_size),
        "after": (after, task.batch_size),
        "after, batch 1": (after, 1),
    }
    result = refinement_cost(configurations, args.family, args.samples, args.repeats)
    write_json(args.out, result)
    print(json.dumps(result, indent=1))
