"""`fwilab-generate-data` from a clone: `python scripts/generate_data.py ...` runs fwilab.commands.generate_data, as the installed command does."""

from fwilab.commands.generate_data import main

if __name__ == "__main__":
    main()
