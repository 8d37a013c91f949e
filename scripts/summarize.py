"""`fwilab-summarize` from a clone: `python scripts/summarize.py ...` runs fwilab.commands.summarize, as the installed command does."""

import sys

from fwilab.commands.summarize import main

if __name__ == "__main__":
    sys.exit(main())
