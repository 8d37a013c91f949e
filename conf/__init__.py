"""conf/ is the package ``fwilab.conf`` (pyproject.toml maps it), so Hydra reads these YAML files from an installed
wheel as from a clone (``pkg://fwilab.conf``)."""
