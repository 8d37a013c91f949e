"""The installed commands (``fwilab-train``, ``fwilab-evaluate``, ...; pyproject.toml's ``[project.scripts]``),
one module per task so that Hydra names each run directory after it (``outputs/train/...``).

``scripts/*.py`` call these same functions, so a clone and an installed wheel run the same code.
Hydra reads the configs from the package (``pkg://fwilab.conf``, the repository's ``conf/``).
"""

CONFIG_PATH = "pkg://fwilab.conf"
