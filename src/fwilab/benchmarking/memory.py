"""Peak resident memory of a training epoch against the size of the data set (memory_scaling.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fwilab.benchmarking.random_split import write_random_split
from fwilab.data_contract import SEISMIC_SHAPE
from fwilab.errors import FwilabError


def rss_versus_size(
    sizes: list[int], out_dir: Path, batch_size: int = 8, extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Peak RSS of one full training epoch (fresh process each) on random splits of each size.

    The splits are read sample by sample from disk, so the peak should not grow with the size.
    """
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
            root = write_random_split(Path(scratch) / "data", size)
            run_dir = Path(scratch) / "run"
            finished = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fwilab.commands.train",  # the installed module: no source tree needed
                    "data=curvefault_a",
                    f"data.root={root}",
                    "data.train_split=train.txt",
                    "data.val_split=val.txt",
                    f"data.val_samples={batch_size}",
                    "data.check=off",  # random data whose validation reads the training file on purpose; no scan
                    "trainer.device=cpu",
                    "trainer.epochs=1",
                    f"trainer.batch_size={batch_size}",
                    "logger=none",
                    "diagnostics=off",
                    f"hydra.run.dir={run_dir}",
                    *extra,
                ],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if finished.returncode != 0:
                last = (finished.stderr.strip().splitlines() or ["no output"])[-1]
                raise FwilabError(f"training on {size} samples failed: {last}")
            record = json.loads((run_dir / "metrics.json").read_text())
            rows.append(
                {
                    "samples": size,
                    "data_gb": size * math.prod(SEISMIC_SHAPE) * 4 / 1e9,
                    "peak_host_rss_gb": record["peak_host_rss_gb"],
                    "steps": record["total_steps"],
                }
            )
    return rows
