"""Matplotlib figures as RGB arrays, without pyplot (no global state, no display backend)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure_to_rgb(figure: Figure) -> np.ndarray:
    """Draw ``figure`` with Agg and return its (H, W, 3) uint8 pixels."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
