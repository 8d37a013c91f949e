"""`fwilab-refine` from a clone: `python scripts/refine.py ...` runs fwilab.commands.refine, as the installed command does."""

from fwilab.commands.refine import main

if __name__ == "__main__":
    main()
