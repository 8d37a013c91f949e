"""The synthetic OpenFWI-format generator: velocity families, faithfulness statistics, data-set writer (it propagates
with physics.forward)."""

GENERATOR_VERSION = 2  # bump whenever a seed's bytes change; generated sets record it
