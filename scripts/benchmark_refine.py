"""`fwilab-benchmark-refine` from a clone: `python scripts/benchmark_refine.py ...` runs fwilab.commands.benchmark_refine, as the installed command does."""

import sys

from fwilab.commands.benchmark_refine import main

if __name__ == "__main__":
    sys.exit(main())
