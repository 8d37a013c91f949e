"""Throughput measurements written as JSON + markdown, all configurations in one process on the same data.

* ``reference``: an OpenFWI-style loop — DataLoader workers applying numpy log / min-max
  transforms per sample, fp32, ``loss.item()`` every step — the yardstick.
* the project's own loop (``fwilab.training.loop.train``) in each configuration asked for
  (precision, channels_last, compile, resident data), measured over the log intervals after warm-up;
* the cost of activation snapshots every ``snapshot_every`` steps (see ``snapshot_overhead``);
* synthetic-data generation (deepwave) in models per second, when deepwave is installed.

Data: ``samples`` random gathers of the OpenFWI shape written as OpenFWI files (correctly shaped,
no physics, no deepwave needed), so the benchmark runs on a machine that only has torch.
"""

from fwilab.benchmarking.memory import rss_versus_size
from fwilab.benchmarking.report import markdown_table, write_gpu_report
from fwilab.benchmarking.run import run_benchmarks

__all__ = ["markdown_table", "rss_versus_size", "run_benchmarks", "write_gpu_report"]
