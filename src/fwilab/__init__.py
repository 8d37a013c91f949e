"""fwilab: Hydra-configured experiments for data-driven seismic full-waveform inversion.

Importing fwilab registers the OmegaConf resolvers its configs use (``fwilab.resolvers``), so any
config composed in a process that imported fwilab resolves, whether through a script or not.
"""

from fwilab.resolvers import register

__version__ = "0.1.0"

register()
