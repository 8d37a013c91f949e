"""`fwilab-review` from a clone: `python scripts/review.py ...` runs fwilab.commands.review, as the installed command does."""

import sys

from fwilab.commands.review import main

if __name__ == "__main__":
    sys.exit(main())
