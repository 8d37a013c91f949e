"""Physics: fwilab's forward operator (deepwave in OpenFWI's acquisition geometry, which the generator and the
refinement share), the data misfit of velocity maps under it, and wave-equation refinement (full-waveform
inversion) of maps by descending that misfit with deepwave's gradients."""
