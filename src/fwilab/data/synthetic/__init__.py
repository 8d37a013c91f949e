"""Synthetic OpenFWI-like data sets: velocity-model families and acoustic forward modelling."""
