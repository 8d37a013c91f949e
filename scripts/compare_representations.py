"""`fwilab-compare-representations` from a clone: `python scripts/compare_representations.py ...` runs fwilab.commands.compare_representations, as the installed command does."""

from fwilab.commands.compare_representations import main

if __name__ == "__main__":
    main()
