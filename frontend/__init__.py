"""Frontend: Python functions to IR (tracing through NumPy protocols, AutoGraph, autodiff)."""
