"""`fwilab-refine-merge` from a clone: `python scripts/refine_merge.py ...` runs fwilab.commands.refine_merge, as the
installed command does."""

import sys

from fwilab.commands.refine_merge import main

if __name__ == "__main__":
    sys.exit(main())
