"""How closely a set of velocity maps resembles an OpenFWI family, in numbers a person can check.

Each statistic is defined on (n, 70, 70) maps in m/s, so it applies to real OpenFWI files and to
generated ones alike:

* ``interface_spread``: down the centre column, a velocity jump is a run of consecutive rows whose
  row-to-row change exceeds 1 m/s; the share of jumps spread over 1, 2, 3 and 4 or more rows.
* ``first_interface_relief``: per column, the first row whose velocity differs from the top row's
  by more than 1 m/s; relief = deepest minus shallowest over the columns that have one (rows;
  10th / 50th / 90th percentile over the maps).
* ``dominant_velocities``: the number of distinct values covering more than 70 pixels of a map
  (the layers, not the smoothed transitions between them; 10th / 90th percentile).
* ``top_row_velocity`` / ``bottom_row_velocity``: min / median / max over all pixels of the row.
* ``monotonic_share``: share of maps whose centre column never decreases with depth.

``TARGETS`` holds what was measured on real maps (200-500 CurveFault-A maps, lanl/OpenFWI data,
as reported in fwilab issue 16 and the scaffold's issue), with the bounds the tests hold a
generated set to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANGE_TOLERANCE = 1.0  # m/s: smaller row-to-row changes are not part of an interface
CENTRE_COLUMN = 35


def _runs(mask: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])


def interface_spread(maps: np.ndarray) -> dict[str, float]:
    """Share of centre-column velocity jumps spread over 1, 2, 3 and >= 4 rows."""
    lengths = np.array(
        [n for m in maps for n in _runs(np.abs(np.diff(m[:, CENTRE_COLUMN].astype(np.float64))) > CHANGE_TOLERANCE)]
    )
    if lengths.size == 0:
        return {"1": 0.0, "2": 0.0, "3": 0.0, "4+": 0.0}
    return {
        "1": float(np.mean(lengths == 1)),
        "2": float(np.mean(lengths == 2)),
        "3": float(np.mean(lengths == 3)),
        "4+": float(np.mean(lengths >= 4)),
    }


def first_interface_depths(velocity_map: np.ndarray) -> np.ndarray:
    """Row of the first change below the top row in each column (-1 where a column has none)."""
    changed = np.abs(velocity_map.astype(np.float64) - velocity_map[:1].astype(np.float64)) > CHANGE_TOLERANCE
    return np.where(changed.any(axis=0), changed.argmax(axis=0), -1)


def first_interface_relief(maps: np.ndarray) -> dict[str, float]:
    """10th / 50th / 90th percentile over the maps of the first interface's relief in rows."""
    reliefs = []
    for m in maps:
        depths = first_interface_depths(m)
        depths = depths[depths >= 0]
        reliefs.append(int(depths.max() - depths.min()) if depths.size else 0)
    return dict(zip(("p10", "p50", "p90"), (float(v) for v in np.percentile(reliefs, [10, 50, 90]))))


def dominant_velocities(maps: np.ndarray) -> dict[str, float]:
    """10th / 90th percentile of the number of values covering more than 70 pixels of a map."""
    counts = [int(np.sum(np.unique(m, return_counts=True)[1] > m.shape[1])) for m in maps]
    return dict(zip(("p10", "p90"), (float(v) for v in np.percentile(counts, [10, 90]))))


def _row_velocity(row: np.ndarray) -> dict[str, float]:
    return {"min": float(row.min()), "median": float(np.median(row)), "max": float(row.max())}


def monotonic_share(maps: np.ndarray) -> float:
    """Share of maps whose centre column never decreases with depth."""
    centre = maps[:, :, CENTRE_COLUMN].astype(np.float64)
    return float(np.mean(np.all(np.diff(centre, axis=1) >= 0, axis=1)))


def family_statistics(maps: np.ndarray) -> dict[str, dict[str, float] | float]:
    """Every statistic of the module for maps (n, 70, 70) or (n, 1, 70, 70)."""
    maps = np.asarray(maps)
    if maps.ndim == 4:
        maps = maps[:, 0]
    return {
        "interface_spread": interface_spread(maps),
        "first_interface_relief": first_interface_relief(maps),
        "dominant_velocities": dominant_velocities(maps),
        "top_row_velocity": _row_velocity(maps[:, 0, :]),
        "bottom_row_velocity": _row_velocity(maps[:, -1, :]),
        "monotonic_share": monotonic_share(maps),
    }


@dataclass(frozen=True)
class Target:
    """A statistic measured on real maps and the interval a generated set must fall in."""

    measured: float
    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


TARGETS: dict[str, dict[str, Target]] = {
    "curvefault_a": {
        "interface_spread.1": Target(0.07, 0.0, 0.15),
        "interface_spread.2": Target(0.11, 0.0, 0.2),
        "interface_spread.3": Target(0.71, 0.6, 0.85),
        "interface_spread.4+": Target(0.09, 0.02, 0.2),
        "first_interface_relief.p10": Target(0, 0, 2),
        "first_interface_relief.p50": Target(7, 5, 9),
        "first_interface_relief.p90": Target(11, 9, 14),
        "dominant_velocities.p10": Target(4, 4, 4),
        "dominant_velocities.p90": Target(4, 4, 4),
        "top_row_velocity.min": Target(1502, 1500, 1540),
        "top_row_velocity.median": Target(1924, 1840, 2010),
        "top_row_velocity.max": Target(2950, 2880, 2950),
        "bottom_row_velocity.min": Target(3082, 3080, 3200),
        "bottom_row_velocity.median": Target(4038, 3950, 4120),
        "bottom_row_velocity.max": Target(4496, 4440, 4500),
        "monotonic_share": Target(0.41, 0.32, 0.48),
    },
}


def measured_depth_range(family: str) -> tuple[float, float] | None:
    """The median velocities (m/s) of the top and bottom rows of ``family``'s real maps, where they were measured
    (CurveFault-A: 1924, 4038): the ends of a smooth 1-D start that knows only the family."""
    targets = TARGETS.get(family, {})
    top, bottom = targets.get("top_row_velocity.median"), targets.get("bottom_row_velocity.median")
    return (top.measured, bottom.measured) if top and bottom else None


def flatten(statistics: dict[str, dict[str, float] | float]) -> dict[str, float]:
    """``{"interface_spread.3": 0.71, ..., "monotonic_share": 0.41}``: one key per number."""
    flat: dict[str, float] = {}
    for name, value in statistics.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{key}": v for key, v in value.items()})
        else:
            flat[name] = value
    return flat


def compare_with_targets(family: str, statistics: dict[str, dict[str, float] | float]) -> list[dict]:
    """Rows of (statistic, generated value, real measurement, bounds, within) for the report."""
    targets = TARGETS.get(family, {})
    rows = []
    for key, value in flatten(statistics).items():
        target = targets.get(key)
        rows.append(
            {
                "statistic": key,
                "generated": value,
                "real": target.measured if target else None,
                "bounds": [target.low, target.high] if target else None,
                "within": target.holds(value) if target else None,
            }
        )
    return rows
