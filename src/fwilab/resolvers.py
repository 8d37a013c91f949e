"""OmegaConf resolvers through which configs read facts whose one source is Python code.

``${openfwi_data_min:curvefault_a}`` / ``${openfwi_data_max:...}``: OpenFWI's published
normalization constants (``fwilab.data_contract``); ``${generator_version:}``: the synthetic
generator's version, part of a generated set's cache folder so that a new generator never reuses
an old set; ``${fwilab_cache_dir:}``: fwilab's cache folder (``fwilab.io.cache_dir``), so the default data set is
found from any working directory; ``${optuna_storage:NAME}``: the SQLite URL of the Optuna study NAME in that
cache, so a search continues wherever its command is started.
"""

from omegaconf import OmegaConf

from fwilab.data.synthetic import GENERATOR_VERSION
from fwilab.data_contract import published_seismic_range
from fwilab.io import cache_dir


def optuna_storage(study_name: str) -> str:
    """``sqlite:///<cache>/optuna/<study_name>.db``, creating the folder (SQLite creates the file, not its folder)."""
    folder = cache_dir().resolve() / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / study_name}.db"


def register() -> None:
    """Register the resolvers once per process (importing fwilab does it)."""
    resolvers = {
        "openfwi_data_min": lambda family: published_seismic_range(family)[0],
        "openfwi_data_max": lambda family: published_seismic_range(family)[1],
        "generator_version": lambda: GENERATOR_VERSION,
        "fwilab_cache_dir": lambda: str(cache_dir().resolve()),
        "optuna_storage": optuna_storage,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
