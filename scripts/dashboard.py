"""`fwilab-dashboard` from a clone: `python scripts/dashboard.py ...` runs fwilab.commands.dashboard, as the installed command does."""

import sys

from fwilab.commands.dashboard import main

if __name__ == "__main__":
    sys.exit(main())
