"""`fwilab-evaluate` from a clone: `python scripts/evaluate.py ...` runs fwilab.commands.evaluate, as the installed command does."""

from fwilab.commands.evaluate import main

if __name__ == "__main__":
    main()
