"""Seeded velocity-model generators for the OpenFWI families (70 x 70 cells of 10 m, 1500-4500 m/s).

OpenFWI (Deng et al., 2022) builds its Vel and Fault families from layered models: flat layers
(FlatVel), layers folded by sine curves (CurveVel), and either of these cut by faults across which
the layers are displaced (FlatFault, CurveFault). "A" sets keep velocity increasing with depth as a
rule; "B" sets have more layers and freely varying velocities. What this module chooses:

* Layers: ``n_layers`` drawn from the recipe; thicknesses from a Dirichlet split of the 70 cells
  with a 4-cell minimum, the bottom layer thick enough that a fault throw never exposes the
  layer above it on the bottom row.
* Velocities: the top layer in U(1500, 2950) and the bottom layer in U(3080, 4500) m/s (the ranges
  measured on CurveFault-A's top and bottom rows); layers between follow the linear trend between
  them plus Gaussian jitter, so velocity increases with depth as a rule but not always. The
  jitter of the Fault "A" recipes (600 m/s) is tuned so that about 40% of maps increase
  monotonically down the centre column, as measured on real CurveFault-A maps; the Vel "A"
  recipes keep a small jitter (about 90% monotonic), since OpenFWI describes them as increasing
  with depth; "B" recipes use 700 m/s and up to 8 layers.
* Curvature: every interface follows one smooth fold (a sum of three sines, 1-3 cycles across the
  model) scaled per interface; CurveFault-A's folds are mild (peak-to-peak of a few cells).
  Interfaces are kept at least 2 cells apart, so they never cross.
* Faults: a straight line from the surface dipping 50-85 degrees; one side is displaced downwards
  by a throw of 4-14 cells (normal faulting). A second fault of opposite dip (probability set by
  the recipe) makes the small wedges seen in the Fault families.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fwilab.data.contract import VELOCITY_RANGE
from fwilab.errors import ConfigError

MAP_SIZE = 70
VEL_MIN, VEL_MAX = VELOCITY_RANGE
TOP_VELOCITY_RANGE = (1500.0, 2950.0)
BOTTOM_VELOCITY_RANGE = (3080.0, 4500.0)
MIN_LAYER_CELLS = 4
MAX_THROW_CELLS = 14


@dataclass(frozen=True)
class FamilyRecipe:
    """How one OpenFWI-like family is drawn."""

    n_layers: tuple[int, int]
    curved: bool
    fold_amplitude_cells: float
    fault_probability: float
    second_fault_probability: float
    velocity_jitter: float


FAMILIES: dict[str, FamilyRecipe] = {
    "flatvel_a": FamilyRecipe((2, 5), False, 0.0, 0.0, 0.0, 180.0),
    "flatvel_b": FamilyRecipe((3, 8), False, 0.0, 0.0, 0.0, 700.0),
    "curvevel_a": FamilyRecipe((2, 5), True, 4.0, 0.0, 0.0, 180.0),
    "curvevel_b": FamilyRecipe((3, 8), True, 8.0, 0.0, 0.0, 700.0),
    "flatfault_a": FamilyRecipe((3, 5), False, 0.0, 1.0, 0.15, 600.0),
    "flatfault_b": FamilyRecipe((4, 8), False, 0.0, 1.0, 0.5, 700.0),
    "curvefault_a": FamilyRecipe((3, 5), True, 3.0, 1.0, 0.15, 600.0),
    "curvefault_b": FamilyRecipe((4, 8), True, 6.0, 1.0, 0.5, 700.0),
}


def recipe_for(family: str) -> FamilyRecipe:
    """The recipe of a family name, with an error that lists the known ones."""
    try:
        return FAMILIES[family]
    except KeyError:
        raise ConfigError(f"family={family!r} has no synthetic generator; choose one of {sorted(FAMILIES)}") from None


def _layer_velocities(rng: np.random.Generator, n_layers: int, jitter: float) -> np.ndarray:
    top = rng.uniform(*TOP_VELOCITY_RANGE)
    bottom = rng.uniform(*BOTTOM_VELOCITY_RANGE)
    trend = np.linspace(top, bottom, n_layers)
    trend[1:-1] += rng.normal(0.0, jitter, n_layers - 2)
    return np.clip(trend, VEL_MIN, VEL_MAX)


def _interface_depths(rng: np.random.Generator, n_layers: int, recipe: FamilyRecipe) -> np.ndarray:
    """Interface depth (in cells, float) of each of the n_layers - 1 interfaces at every column."""
    x = np.arange(MAP_SIZE)
    bottom_min = MAX_THROW_CELLS + MIN_LAYER_CELLS if recipe.fault_probability > 0 else MIN_LAYER_CELLS
    free = MAP_SIZE - MIN_LAYER_CELLS * (n_layers - 1) - bottom_min
    thickness = MIN_LAYER_CELLS + free * rng.dirichlet(np.full(n_layers, 2.0))
    thickness[-1] += bottom_min - MIN_LAYER_CELLS
    depths = np.cumsum(thickness)[:-1]
    fold = np.zeros(MAP_SIZE)
    if recipe.curved:
        for _ in range(3):
            cycles = rng.uniform(0.5, 1.5)
            fold += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * cycles * x / MAP_SIZE + rng.uniform(0, 2 * np.pi))
        fold *= recipe.fold_amplitude_cells / max(np.abs(fold).max(), 1e-6)
    scales = rng.uniform(0.6, 1.2, n_layers - 1)
    surfaces = depths[:, None] + scales[:, None] * fold[None, :]
    for k in range(1, len(surfaces)):
        surfaces[k] = np.maximum(surfaces[k], surfaces[k - 1] + 2.0)
    return surfaces


def _layer_index(surfaces: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Index of the layer holding each (depth, column) cell; depth may lie outside the map."""
    return (depth[None, :, :] >= surfaces[:, None, :]).sum(axis=0)


def _fault_side(rng: np.random.Generator) -> np.ndarray:
    """Boolean map of the cells on the displaced side of a dipping straight fault."""
    z, x = np.mgrid[0:MAP_SIZE, 0:MAP_SIZE].astype(np.float64)
    surface_x = rng.uniform(10, MAP_SIZE - 10)
    dip = np.deg2rad(rng.uniform(50, 85))
    direction = rng.choice([-1.0, 1.0])
    fault_x = surface_x + direction * z / np.tan(dip)
    side = x > fault_x if rng.random() < 0.5 else x < fault_x
    return side


def velocity_model(rng: np.random.Generator, family: str) -> np.ndarray:
    """One (70, 70) float32 velocity map in m/s, depth along axis 0."""
    recipe = recipe_for(family)
    n_layers = int(rng.integers(recipe.n_layers[0], recipe.n_layers[1] + 1))
    velocities = _layer_velocities(rng, n_layers, recipe.velocity_jitter)
    surfaces = _interface_depths(rng, n_layers, recipe)
    depth = np.broadcast_to(np.arange(MAP_SIZE, dtype=np.float64)[:, None], (MAP_SIZE, MAP_SIZE))
    shift = np.zeros((MAP_SIZE, MAP_SIZE))
    if rng.random() < recipe.fault_probability:
        n_faults = 2 if rng.random() < recipe.second_fault_probability else 1
        for _ in range(n_faults):
            shift += _fault_side(rng) * rng.uniform(MIN_LAYER_CELLS, MAX_THROW_CELLS / n_faults)
    index = _layer_index(surfaces, depth - shift)
    return velocities[index].astype(np.float32)


def velocity_models(rng: np.random.Generator, family: str, n: int) -> np.ndarray:
    """A batch (n, 1, 70, 70) of velocity maps, in OpenFWI's layout."""
    return np.stack([velocity_model(rng, family) for _ in range(n)])[:, None]
