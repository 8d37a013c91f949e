"""Diagnostics: rendering arrays as pictures (colormaps), activation capture."""
