"""OmegaConf resolvers through which configs read facts whose one source is Python code.

``${openfwi_data_min:curvefault_a}`` / ``${openfwi_data_max:...}``: OpenFWI's published
normalization constants (``fwilab.data.contract``); ``${generator_version:}``: the synthetic
generator's version, part of a generated set's cache folder so that a new generator never reuses
an old set.
"""

from omegaconf import OmegaConf

from fwilab.data.contract import published_seismic_range
from fwilab.data.synthetic import GENERATOR_VERSION


def register() -> None:
    """Register the resolvers once per process (importing fwilab does it)."""
    resolvers = {
        "openfwi_data_min": lambda family: published_seismic_range(family)[0],
        "openfwi_data_max": lambda family: published_seismic_range(family)[1],
        "generator_version": lambda: GENERATOR_VERSION,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
