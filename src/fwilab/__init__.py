"""fwilab: Hydra-configured experiments for data-driven seismic full-waveform inversion."""

from fwilab import resolvers

__version__ = "0.1.0"

resolvers.register()
