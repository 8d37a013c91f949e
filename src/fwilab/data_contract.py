"""OpenFWI's data contract, shared by every family: array shapes, velocity bounds and the published
normalization constants (one source for each)."""

from fwilab.errors import ConfigError

SEISMIC_SHAPE = (5, 1000, 70)  # per sample: sources, time samples (1 ms), receivers
VELOCITY_SHAPE = (1, 70, 70)  # per sample: one 70 x 70 map of 10 m cells
VELOCITY_RANGE = (1500.0, 4500.0)  # m/s; OpenFWI's min-max transform maps it to [-1, 1]

# OpenFWI's published min/max of each family's seismic data (its dataset_config.json), the constants
# its min-max transform normalizes with. Family configs and generated data sets read them from here.
PUBLISHED_SEISMIC_RANGE: dict[str, tuple[float, float]] = {
    "flatvel_a": (-26.95, 52.77),
    "flatvel_b": (-27.17, 56.05),
    "curvevel_a": (-27.11, 55.1),
    "curvevel_b": (-29.04, 57.03),
    "flatfault_a": (-26.1, 50.86),
    "flatfault_b": (-24.86, 50.28),
    "curvefault_a": (-26.48, 52.32),
    "curvefault_b": (-24.93, 50.98),
    "style_a": (-24.96, 48.93),
    "style_b": (-23.76, 46.01),
}


def published_seismic_range(family: str) -> tuple[float, float]:
    """(data_min, data_max) OpenFWI publishes for ``family``, with an error that lists the families."""
    try:
        return PUBLISHED_SEISMIC_RANGE[family]
    except KeyError:
        known = ", ".join(sorted(PUBLISHED_SEISMIC_RANGE))
        raise ConfigError(f"OpenFWI publishes no data range for family {family!r}; known: {known}") from None
