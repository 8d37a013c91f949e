"""The synthetic OpenFWI-format generator: velocity families, deepwave forward model, data-set writer."""

GENERATOR_VERSION = 2  # bump whenever a seed's bytes change; generated sets record it
