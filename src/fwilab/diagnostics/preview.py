"""A picture of a data set: velocity maps beside their five shot gathers, as OpenFWI's figures show them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fwilab.data_contract import VELOCITY_RANGE
from fwilab.diagnostics.colormaps import apply_colormap

ROW_HEIGHT = 300
GATHER_WIDTH = 90
GAP = 6


def render_dataset_preview(
    velocity: np.ndarray, seismic: np.ndarray, path: str | Path, vel_range: tuple[float, float] = VELOCITY_RANGE
) -> Path:
    """Write a PNG with one row per sample: velocity (jet-like, m/s) then the 5 gathers (seismic map).

    Gathers share one symmetric colour range per row, clipped at the 99th percentile of |amplitude|
    so reflections stay visible beside the strong direct wave.
    """
    n, n_sources = seismic.shape[0], seismic.shape[1]
    width = ROW_HEIGHT + n_sources * (GATHER_WIDTH + GAP) + GAP
    canvas = Image.new("RGB", (width, n * (ROW_HEIGHT + GAP) + 20), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (4, 4),
        f"velocity {vel_range[0]:.0f}-{vel_range[1]:.0f} m/s (jet) | shot gathers, time down, receivers across (seismic)",
        fill="black",
    )
    for row in range(n):
        top = 20 + row * (ROW_HEIGHT + GAP)
        vel = apply_colormap(velocity[row, 0], "velocity", *vel_range)
        canvas.paste(Image.fromarray(vel).resize((ROW_HEIGHT, ROW_HEIGHT), Image.NEAREST), (0, top))
        clip = float(np.percentile(np.abs(seismic[row]), 99)) or 1.0
        for source in range(n_sources):
            gather = apply_colormap(seismic[row, source], "seismic", -clip, clip)
            image = Image.fromarray(gather).resize((GATHER_WIDTH, ROW_HEIGHT), Image.BILINEAR)
            canvas.paste(image, (ROW_HEIGHT + GAP + source * (GATHER_WIDTH + GAP), top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
