"""Colormap look-up tables (256 x RGB uint8) from matplotlib's own tables, and their application.

The tables are matplotlib's (a dependency), read once per name; applying one is pure numpy, cheap enough
to run inside a training loop.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib import colormaps as matplotlib_colormaps

MATPLOTLIB_NAMES = {
    "gray": "gray",
    "viridis": "viridis",
    "seismic": "seismic",  # diverging, for signed data (seismic traces): dark blue, blue, white, red, dark red
    "velocity": "jet",  # the rainbow of OpenFWI's velocity figures
}
COLORMAPS = tuple(MATPLOTLIB_NAMES)
LUT_SIZE = 256


@functools.cache
def colormap_lut(name: str) -> np.ndarray:
    """A read-only (256, 3) uint8 table for ``name``: matplotlib's colormap of that name, rounded to bytes."""
    if name not in MATPLOTLIB_NAMES:
        raise ValueError(f"unknown colormap {name!r}; choose one of {COLORMAPS}")
    colormap = matplotlib_colormaps[MATPLOTLIB_NAMES[name]].resampled(LUT_SIZE)
    table = np.round(colormap(np.arange(LUT_SIZE))[:, :3] * 255).astype(np.uint8)
    table.flags.writeable = False
    return table


def apply_colormap(values: np.ndarray, name: str, vmin: float, vmax: float) -> np.ndarray:
    """Map a 2-D array to (H, W, 3) uint8 RGB; values outside [vmin, vmax] are clipped, NaN is black."""
    values = np.asarray(values, dtype=np.float64)
    span = vmax - vmin if vmax > vmin else 1.0
    scaled = np.clip((np.nan_to_num(values, nan=vmin) - vmin) / span, 0.0, 1.0)
    rgb = colormap_lut(name)[np.round(scaled * (LUT_SIZE - 1)).astype(np.int64)]
    rgb[~np.isfinite(values)] = 0
    return rgb
