"""(Re)build the baseline comparison of a finished sweep:
`fwilab-compare outputs/multirun/<date>/<time> [--baseline InversionNet]`."""

import argparse
import sys

from fwilab.cli import argparse_task
from fwilab.experiments.comparison import markdown_report, write_comparison


@argparse_task
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep_dir", help="a Hydra multirun directory with one job per model and seed")
    parser.add_argument("--baseline", default="InversionNet", help="model class the others are compared with")
    args = parser.parse_args()
    report = write_comparison(args.sweep_dir, args.baseline)
    print(markdown_report(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
