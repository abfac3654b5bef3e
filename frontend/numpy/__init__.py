"""The NumPy surface jitflow traces: the table from NumPy functions and ufuncs to their
implementations on tracers (``api``), the implementations by family (elementwise,
reductions, shapes, indexing, linalg) and the ``Tracer``'s operators and methods."""
