"""OpenFWI-format data: files, splits, transforms and the synthetic physics generator."""
