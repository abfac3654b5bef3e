"""Limits on what the IR accepts, so that hostile or broken input fails cleanly.

Text is parsed, verified, interpreted and rewritten by recursive Python code and
held in memory; these bounds keep each of those steps far from Python's recursion
limit and memory proportional to the input.  Real programs stay well inside them:
XLA and JAX dumps nest tuples and calls a handful of levels deep, and NumPy arrays
have at most 64 dimensions.
"""

from __future__ import annotations

# Characters of HLO text one parse accepts: 64 MiB, ~1.8M instructions of a dump.  The
# module parsed from it takes ~55 bytes per character (3.5 GB at the limit).
MAX_TEXT_CHARS = 64 * 2**20
# Characters in one name, number or string of HLO text.
MAX_TOKEN_CHARS = 2**20
# Nesting of tuple types and of the braces of a literal (NumPy's limit on dimensions).
MAX_NESTING_DEPTH = 64
# Length of a chain of called computations (call, while, conditional, reduce's to_apply...).
MAX_CALL_DEPTH = 64
# Bytes of one array (so also its elements): what an int64 byte offset can address.
MAX_ARRAY_BYTES = 2**63 - 1
