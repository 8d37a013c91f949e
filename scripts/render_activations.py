"""`fwilab-render-activations` from a clone: `python scripts/render_activations.py ...` runs fwilab.commands.render_activations, as the installed command does."""

from fwilab.commands.render_activations import main

if __name__ == "__main__":
    main()
