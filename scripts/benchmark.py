"""`fwilab-benchmark` from a clone: `python scripts/benchmark.py ...` runs fwilab.commands.benchmark, as the installed command does."""

from fwilab.commands.benchmark import main

if __name__ == "__main__":
    main()
