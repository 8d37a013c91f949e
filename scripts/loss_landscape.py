"""`fwilab-loss-landscape` from a clone: `python scripts/loss_landscape.py ...` runs fwilab.commands.loss_landscape, as the installed command does."""

from fwilab.commands.loss_landscape import main

if __name__ == "__main__":
    main()
