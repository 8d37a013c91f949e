"""`fwilab-memory-scaling` from a clone: `python scripts/memory_scaling.py ...` runs fwilab.commands.memory_scaling, as the installed command does."""

import sys

from fwilab.commands.memory_scaling import main

if __name__ == "__main__":
    sys.exit(main())
