"""Physics in the loop: the data misfit of velocity maps under fwilab's forward operator, and wave-equation
refinement (full-waveform inversion) of maps by descending that misfit with deepwave's gradients."""
