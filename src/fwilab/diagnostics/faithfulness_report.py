"""A picture that compares a generated data set with what real OpenFWI maps show, for a person's eye.

Top row: generated velocity maps. Middle: centre-source shot gathers of the first maps, beside the
interface-spread and first-interface-relief statistics (generated bars, real measurements as black
marks). Bottom: top- and bottom-row velocities and the table of every statistic with its bounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from fwilab.data_contract import VELOCITY_RANGE
from fwilab.plotting import figure_to_rgb

N_MAPS = 8
N_GATHERS = 4
CENTRE_SOURCE = 2


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _by_prefix(rows: list[dict], prefix: str) -> list[dict]:
    return [row for row in rows if row["statistic"].startswith(prefix + ".")]


def _compare_panel(axis, rows: list[dict], title: str, ylabel: str) -> None:
    labels = [row["statistic"].split(".", 1)[1] for row in rows]
    positions = np.arange(len(rows))
    axis.bar(positions, [row["generated"] for row in rows], color="tab:blue", label="generated")
    real = [(p, row["real"]) for p, row in zip(positions, rows) if row["real"] is not None]
    if real:
        axis.scatter(*zip(*real), marker="_", s=600, linewidths=3, color="black", label="real OpenFWI", zorder=3)
    axis.set_xticks(positions, labels)
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=8)


def _map_row(figure: Figure, grid, velocity: np.ndarray) -> None:
    """The first maps in m/s on one shared colour scale."""
    for k in range(min(N_MAPS, len(velocity))):
        axis = figure.add_subplot(grid[0, k])
        image = axis.imshow(velocity[k, 0], cmap="jet", vmin=VELOCITY_RANGE[0], vmax=VELOCITY_RANGE[1])
        axis.set_title(f"map {k}", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=figure.axes[: min(N_MAPS, len(velocity))], fraction=0.01, label="m/s")


def _gather_row(figure: Figure, grid, seismic: np.ndarray) -> None:
    """The centre source's gather of the first maps, each clipped at its own 99th percentile."""
    for k in range(min(N_GATHERS, len(seismic))):
        axis = figure.add_subplot(grid[1, k])
        gather = seismic[k, CENTRE_SOURCE]
        clip = float(np.percentile(np.abs(gather), 99)) or 1.0
        axis.imshow(gather, cmap="seismic", vmin=-clip, vmax=clip, aspect="auto", extent=(0, 700, 1.0, 0))
        axis.set_title(f"map {k}, source x = 340 m", fontsize=9)
        axis.set_xlabel("receiver x (m)", fontsize=8)
        if k == 0:
            axis.set_ylabel("time (s)")


def _statistics_table(axis, rows: list[dict]) -> None:
    """Every statistic row: generated, real, bounds and whether the generated value is within them."""
    axis.axis("off")
    cells = [
        [
            row["statistic"],
            _number(row["generated"]),
            "" if row["real"] is None else _number(row["real"]),
            "" if row["bounds"] is None else f"{_number(row['bounds'][0])} - {_number(row['bounds'][1])}",
            {True: "yes", False: "NO", None: ""}[row["within"]],
        ]
        for row in rows
    ]
    drawn = axis.table(
        cells,
        colLabels=["statistic", "generated", "real", "bounds", "within"],
        colWidths=[0.4, 0.15, 0.15, 0.2, 0.1],
        loc="center",
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8)
    drawn.scale(1, 1.1)


def render_faithfulness_report(
    velocity: np.ndarray, seismic: np.ndarray, rows: list[dict], family: str, path: str | Path
) -> Path:
    """Write the report PNG for maps (n, 1, 70, 70), their gathers (n, 5, 1000, 70) and the statistic rows."""
    figure = Figure(figsize=(18, 12), dpi=80)
    grid = figure.add_gridspec(3, N_MAPS, height_ratios=[1, 1.3, 1.2], hspace=0.45, wspace=0.35)
    figure.suptitle(f"{family}: generated maps and gathers against statistics of real OpenFWI maps", fontsize=14)
    _map_row(figure, grid, velocity)
    _gather_row(figure, grid, seismic)
    _compare_panel(
        figure.add_subplot(grid[1, 4:6]),
        _by_prefix(rows, "interface_spread"),
        "rows a jump spreads over (share)",
        "share",
    )
    _compare_panel(
        figure.add_subplot(grid[1, 6:8]), _by_prefix(rows, "first_interface_relief"), "first interface relief", "rows"
    )
    _compare_panel(figure.add_subplot(grid[2, 0:2]), _by_prefix(rows, "top_row_velocity"), "top row velocity", "m/s")
    _compare_panel(
        figure.add_subplot(grid[2, 2:4]), _by_prefix(rows, "bottom_row_velocity"), "bottom row velocity", "m/s"
    )
    _statistics_table(figure.add_subplot(grid[2, 4:8]), rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(figure_to_rgb(figure)).save(path)
    return path
