"""fwilab: Hydra-configured experiments for data-driven seismic full-waveform inversion."""

__version__ = "0.1.0"
