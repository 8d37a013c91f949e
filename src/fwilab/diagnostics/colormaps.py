"""Colormap look-up tables (256 x RGB uint8) built from control points, and their application.

Pure numpy: rendering stays cheap enough to run inside a training loop.
"""

from __future__ import annotations

import numpy as np

_CONTROL_POINTS: dict[str, list[tuple[float, float, float]]] = {
    "gray": [(0, 0, 0), (1, 1, 1)],
    # matplotlib's viridis sampled at 9 evenly spaced points.
    "viridis": [
        (0.267, 0.005, 0.329),
        (0.279, 0.175, 0.483),
        (0.230, 0.322, 0.546),
        (0.173, 0.449, 0.558),
        (0.128, 0.567, 0.551),
        (0.153, 0.680, 0.510),
        (0.360, 0.785, 0.388),
        (0.678, 0.864, 0.190),
        (0.993, 0.906, 0.144),
    ],
    # Diverging map for signed data (seismic traces): dark blue, blue, white, red, dark red.
    "seismic": [(0, 0, 0.3), (0, 0, 1), (1, 1, 1), (1, 0, 0), (0.5, 0, 0)],
    # Rainbow-like map used for velocity models in OpenFWI's figures (jet).
    "velocity": [(0, 0, 0.5), (0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0), (0.5, 0, 0)],
}
COLORMAPS = tuple(_CONTROL_POINTS)


def colormap_lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 table for ``name``, linearly interpolated between its control points."""
    if name not in _CONTROL_POINTS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {COLORMAPS}")
    points = np.asarray(_CONTROL_POINTS[name], dtype=np.float64)
    anchors = np.linspace(0.0, 1.0, len(points))
    grid = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(grid, anchors, points[:, c]) for c in range(3)], axis=1)
    return np.round(table * 255).astype(np.uint8)


def apply_colormap(values: np.ndarray, name: str, vmin: float, vmax: float) -> np.ndarray:
    """Map a 2-D array to (H, W, 3) uint8 RGB; values outside [vmin, vmax] are clipped, NaN is black."""
    values = np.asarray(values, dtype=np.float64)
    span = vmax - vmin if vmax > vmin else 1.0
    scaled = np.clip((np.nan_to_num(values, nan=vmin) - vmin) / span, 0.0, 1.0)
    rgb = colormap_lut(name)[np.round(scaled * 255).astype(np.int64)]
    rgb[~np.isfinite(values)] = 0
    return rgb
