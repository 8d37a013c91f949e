"""An offline review page for a run or a sweep: `fwilab-review outputs/multirun/<date>/<time>`
writes review.html (one self-contained file: sortable table, curves, pictures over steps with a slider)."""

import argparse
import sys

from fwilab.cli import argparse_task
from fwilab.experiments.review import write_review


@argparse_task
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", help="a training run directory or a Hydra multirun directory")
    parser.add_argument("--out", default=None, help="the page to write (default: <directory>/review.html)")
    parser.add_argument("--max-snapshots", type=int, default=6, help="snapshots per run embedded (evenly spaced)")
    args = parser.parse_args()
    path = write_review(args.directory, args.out, args.max_snapshots)
    print(f"review page: {path} ({path.stat().st_size / 1e6:.1f} MB); open it in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
