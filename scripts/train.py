"""`fwilab-train` from a clone: `python scripts/train.py ...` runs fwilab.commands.train, as the installed command does."""

from fwilab.commands.train import main

if __name__ == "__main__":
    main()
