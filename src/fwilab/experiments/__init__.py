"""Experiments across runs: sweep summaries and model comparisons, built from run directories only."""
