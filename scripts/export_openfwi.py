"""`fwilab-export-openfwi` from a clone: `python scripts/export_openfwi.py ...` runs fwilab.commands.export_openfwi, as the installed command does."""

from fwilab.commands.export_openfwi import main

if __name__ == "__main__":
    main()
