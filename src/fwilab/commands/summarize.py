"""Summarize a sweep: `fwilab-summarize outputs/multirun/<date>/<time> [--sort-by best_mae] [--out DIR]`.
Writes summary.md, summary.csv, val_mae_curves.png and mae_vs_lr.png, and prints the table."""

import argparse
import sys

from fwilab.cli import argparse_task
from fwilab.experiments.summary import COLUMNS, summarize


@argparse_task
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep_dir", help="a Hydra multirun directory")
    parser.add_argument("--sort-by", default="best_mae", choices=COLUMNS, help="column to sort by (best first)")
    parser.add_argument("--out", default=None, help="where to write the files (default: the sweep directory)")
    args = parser.parse_args()
    paths = summarize(args.sweep_dir, args.sort_by, args.out)
    print(paths["markdown"].read_text(), end="")
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
