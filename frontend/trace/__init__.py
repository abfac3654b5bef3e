"""Tracing: the ``Tracer`` and its ``TraceContext``, the helpers that emit IR for tracers,
NumPy 2's type promotion (NEP 50), pytrees (nested containers of arrays), and the
builders of traced control flow (``while`` and ``conditional`` from Python callables)."""
