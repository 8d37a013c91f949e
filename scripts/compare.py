"""`fwilab-compare` from a clone: `python scripts/compare.py ...` runs fwilab.commands.compare, as the installed command does."""

import sys

from fwilab.commands.compare import main

if __name__ == "__main__":
    sys.exit(main())
