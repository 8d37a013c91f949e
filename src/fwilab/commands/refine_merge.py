"""One set of refinement outputs from the parts of a split refined apart (array tasks of a multirun with
``shard=0/N,...,N-1/N`` or adjoining ``samples=A:B`` ranges): `fwilab-refine-merge outputs/multirun/<date>/<time>`
writes the maps, metrics.json and pictures a single run of the whole range writes, into that directory."""

import argparse
import logging
import sys
from pathlib import Path

from fwilab.cli import argparse_task
from fwilab.tasks.refine import merge_runs, refine_run_directories


@argparse_task
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directories", nargs="+", help="a multirun directory of refine jobs, or the run directories")
    parser.add_argument("--out", default=None, help="where to write the outputs (default: the multirun directory)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    given = [Path(d) for d in args.directories]
    runs = refine_run_directories(given[0]) if len(given) == 1 else given
    if len(given) > 1 and args.out is None:
        parser.error("--out is needed when several run directories are named")
    result = merge_runs(runs, args.out or given[0])
    print(f"merged {len(runs)} runs: {result['samples']} samples in {args.out or given[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
