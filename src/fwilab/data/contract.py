"""OpenFWI's data contract, shared by every family: array shapes and velocity bounds (one source for each)."""

SEISMIC_SHAPE = (5, 1000, 70)  # per sample: sources, time samples (1 ms), receivers
VELOCITY_SHAPE = (1, 70, 70)  # per sample: one 70 x 70 map of 10 m cells
VELOCITY_RANGE = (1500.0, 4500.0)  # m/s; OpenFWI's min-max transform maps it to [-1, 1]
