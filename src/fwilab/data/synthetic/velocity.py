"""Seeded velocity-model generators for the OpenFWI families (70 x 70 cells of 10 m, 1500-4500 m/s).

OpenFWI (Deng et al., 2022) builds its Vel and Fault families from layered models: flat layers
(FlatVel), layers folded by smooth curves (CurveVel), and either of these cut by faults across
which the layers are displaced (FlatFault, CurveFault). "A" sets keep velocity increasing with
depth as a rule; "B" sets have more layers and freely varying velocities. OpenFWI has not
published its generator, so the choices below are fitted to statistics measured on real
CurveFault-A maps (``faithfulness.TARGETS``; the generated values are in each set's report):

* Layers: CurveFault-A and FlatFault-A maps hold 4 layers (real CurveFault-A maps show 4 layers
  between their 10th and 90th percentile); thicknesses from a Dirichlet split (concentration 1.5)
  of the 70 cells with a 2-cell minimum, the top layer at least 2 cells at every column and the
  bottom layer thick enough that a fault never exposes the layer above it on the bottom row. Thin
  layers are what merges neighbouring interfaces into one wider jump (real: 9% of jumps, 4+ rows).
* Velocities: a map's layer velocities are uniform draws on 1500-4500 m/s, redrawn until the
  slowest is at most 2950 and the fastest at least 3080 m/s (the extremes of real top and bottom
  rows). "A": the slowest is the top layer and the fastest the bottom layer; the Vel families sort
  the layers between (velocity increasing with depth), the Fault families put them in random
  order, which with the faults leaves about 40% of centre columns increasing monotonically, as
  measured. "B": the slowest layer on top, the others in random order. A slow top layer is what
  the published data ranges imply: the direct wave, which sets each family's maximum, grows with
  the top layer's velocity, and the published maxima (46-57) stay near the 52.32 that a 2950 m/s
  top layer gives.
* Folds: interfaces follow one smooth fold (a sum of three sines, 0.5-1.5 cycles across the
  model), each interface scaled by 0.6-1.2; the fold's peak-to-peak height is uniform up to the
  recipe's maximum (8 cells for CurveFault-A: real maps' first interface, faults included, has a
  relief of 0 / 7 / 11 rows at the 10th / 50th / 90th percentile).
  Interfaces keep at least 2 cells apart, so they never cross.
* Faults: a straight line crossing x = 30-40 cells at a random depth, dipping 55-85 degrees (real
  maps show steep faults); the footwall moves down by a 2-8 cell throw (reverse faults).
  A second fault with the recipe's probability makes the occasional small wedge. A share of the
  Fault "A" maps (13%) is left flat and unfaulted: at least 10% of real CurveFault-A maps have a
  flat, unbroken first interface.
* Blending: real interfaces spread over about 3 rows (71% of jumps; 2 rows: 11%). Layers are
  evaluated 8 times per cell in depth and a cell takes the mean over a 2-cell window around its
  centre, so an interface blends over 2-3 rows depending on where it falls within a cell; layer
  interiors keep their exact velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fwilab.data_contract import VELOCITY_RANGE, VELOCITY_SHAPE
from fwilab.errors import ConfigError

MAP_SIZE = VELOCITY_SHAPE[-1]  # square maps: as many depth cells as surface cells
VEL_MIN, VEL_MAX = VELOCITY_RANGE
SLOWEST_AT_MOST = 2950.0
FASTEST_AT_LEAST = 3080.0
MIN_LAYER_CELLS = 2
DIRICHLET_CONCENTRATION = 1.5
MIN_INTERFACE_GAP_CELLS = 2.0
THROW_CELLS = (2.0, 8.0)
FAULT_DIP_DEGREES = (55.0, 85.0)
FAULT_X_CELLS = (30.0, 40.0)  # where a fault line crosses its random depth
TRANSITION_CELLS = 2.0  # a cell's velocity is the mean over this depth window around its centre
SAMPLES_PER_CELL = 8


@dataclass(frozen=True)
class FamilyRecipe:
    """How one OpenFWI-like family is drawn."""

    n_layers: tuple[int, int]
    fold_cells: float  # largest peak-to-peak height of the fold; 0 for flat families
    plain_share: float  # share of maps left flat and unfaulted
    fault_probability: float
    second_fault_probability: float
    velocity_order: str  # "increasing", "extremes" (slowest on top, fastest at the bottom) or "free_below_top"


FAMILIES: dict[str, FamilyRecipe] = {
    "flatvel_a": FamilyRecipe((2, 5), 0.0, 1.0, 0.0, 0.0, "increasing"),
    "flatvel_b": FamilyRecipe((3, 8), 0.0, 1.0, 0.0, 0.0, "free_below_top"),
    "curvevel_a": FamilyRecipe((2, 5), 8.0, 0.0, 0.0, 0.0, "increasing"),
    "curvevel_b": FamilyRecipe((3, 8), 16.0, 0.0, 0.0, 0.0, "free_below_top"),
    "flatfault_a": FamilyRecipe((4, 4), 0.0, 0.13, 1.0, 0.15, "extremes"),
    "flatfault_b": FamilyRecipe((4, 8), 0.0, 0.1, 1.0, 0.5, "free_below_top"),
    "curvefault_a": FamilyRecipe((4, 4), 8.0, 0.13, 1.0, 0.15, "extremes"),
    "curvefault_b": FamilyRecipe((4, 8), 16.0, 0.1, 1.0, 0.5, "free_below_top"),
}


def recipe_for(family: str) -> FamilyRecipe:
    """The recipe of a family name, with an error that lists the known ones."""
    try:
        return FAMILIES[family]
    except KeyError:
        raise ConfigError(f"family={family!r} has no synthetic generator; choose one of {sorted(FAMILIES)}") from None


def _layer_velocities(rng: np.random.Generator, n_layers: int, order: str) -> np.ndarray:
    while True:
        draws = rng.uniform(VEL_MIN, VEL_MAX, n_layers)
        if draws.min() <= SLOWEST_AT_MOST and draws.max() >= FASTEST_AT_LEAST:
            break
    draws.sort()
    if order == "extremes":
        draws[1:-1] = rng.permutation(draws[1:-1])
    elif order == "free_below_top":
        draws[1:] = rng.permutation(draws[1:])
    return draws


def _fold(rng: np.random.Generator, height_cells: float) -> np.ndarray:
    """Depth offset (cells) of the fold at every column, peak-to-peak uniform up to ``height_cells``."""
    x = np.arange(MAP_SIZE)
    fold = np.zeros(MAP_SIZE)
    if height_cells == 0:
        return fold
    for _ in range(3):
        cycles = rng.uniform(0.5, 1.5)
        fold += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * cycles * x / MAP_SIZE + rng.uniform(0, 2 * np.pi))
    fold -= fold.mean()
    return fold * rng.uniform(0, height_cells) / max(np.ptp(fold), 1e-6)


def _interface_depths(rng: np.random.Generator, n_layers: int, recipe: FamilyRecipe, fold_cells: float) -> np.ndarray:
    """Interface depth (in cells, float) of each of the n_layers - 1 interfaces at every column."""
    bottom_min = THROW_CELLS[1] * 2 + MIN_LAYER_CELLS if recipe.fault_probability > 0 else MIN_LAYER_CELLS
    free = MAP_SIZE - MIN_LAYER_CELLS * (n_layers - 1) - bottom_min
    thickness = MIN_LAYER_CELLS + free * rng.dirichlet(np.full(n_layers, DIRICHLET_CONCENTRATION))
    thickness[-1] += bottom_min - MIN_LAYER_CELLS
    depths = np.cumsum(thickness)[:-1]
    fold = _fold(rng, fold_cells)
    scales = rng.uniform(0.6, 1.2, n_layers - 1)
    surfaces = depths[:, None] + scales[:, None] * fold[None, :]
    surfaces[0] = np.maximum(surfaces[0], MIN_LAYER_CELLS)
    for k in range(1, len(surfaces)):
        surfaces[k] = np.maximum(surfaces[k], surfaces[k - 1] + MIN_INTERFACE_GAP_CELLS)
    return surfaces


def _fault_shift(rng: np.random.Generator, n_faults: int, z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Downward displacement (cells) at depths z and columns x: reverse faults, the footwall moving down.

    Reverse faulting (the hanging wall thrust up) belongs with the compression that folds the layers,
    and it is what brings a slower layer below a faster one in a column crossing the fault.
    """
    shift = np.zeros(np.broadcast_shapes(z.shape, x.shape))
    for _ in range(n_faults):
        point_x, point_z = rng.uniform(*FAULT_X_CELLS), rng.uniform(0, MAP_SIZE)
        dip = np.deg2rad(rng.uniform(*FAULT_DIP_DEGREES))
        dips_right = rng.random() < 0.5
        fault_x = point_x + (1.0 if dips_right else -1.0) * (z - point_z) / np.tan(dip)
        footwall = x < fault_x if dips_right else x > fault_x
        shift += footwall * rng.uniform(*THROW_CELLS)
    return shift


def _blended_model(rng: np.random.Generator, recipe: FamilyRecipe) -> np.ndarray:
    """One map: layers evaluated SAMPLES_PER_CELL times per cell in depth, each cell the mean over a
    TRANSITION_CELLS window around its centre (layer shares times layer velocities, so interiors stay exact)."""
    n_layers = int(rng.integers(recipe.n_layers[0], recipe.n_layers[1] + 1))
    velocities = _layer_velocities(rng, n_layers, recipe.velocity_order)
    plain = rng.random() < recipe.plain_share
    surfaces = _interface_depths(rng, n_layers, recipe, 0.0 if plain else recipe.fold_cells)
    window = int(TRANSITION_CELLS * SAMPLES_PER_CELL)
    first = -TRANSITION_CELLS / 2
    n_fine = (MAP_SIZE - 1) * SAMPLES_PER_CELL + window
    depth = (first + (np.arange(n_fine) + 0.5) / SAMPLES_PER_CELL)[:, None]
    column = np.arange(MAP_SIZE, dtype=np.float64)[None, :]
    if not plain and rng.random() < recipe.fault_probability:
        n_faults = 2 if rng.random() < recipe.second_fault_probability else 1
        depth = depth - _fault_shift(rng, n_faults, depth, column)
    index = (depth[None, :, :] >= surfaces[:, None, :]).sum(axis=0)
    counts = np.cumsum(np.stack([index == k for k in range(n_layers)]), axis=1, dtype=np.int64)
    counts = np.concatenate([np.zeros((n_layers, 1, MAP_SIZE), np.int64), counts], axis=1)
    starts = np.arange(MAP_SIZE) * SAMPLES_PER_CELL
    shares = (counts[:, starts + window] - counts[:, starts]) / window
    return np.tensordot(velocities, shares, axes=1)


def velocity_models(rng: np.random.Generator, family: str, n: int) -> np.ndarray:
    """A batch (n, 1, 70, 70) of float32 velocity maps in m/s, in OpenFWI's layout (depth along axis 2)."""
    recipe = recipe_for(family)
    return np.stack([_blended_model(rng, recipe) for _ in range(n)]).astype(np.float32)[:, None]
