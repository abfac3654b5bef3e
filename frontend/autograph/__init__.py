"""AutoGraph: Python control flow on traced values becomes IR control flow.

``analysis`` finds what a statement reads and writes, ``transform`` rewrites the
function's AST, ``ops`` holds what converted code calls, and ``conversion`` turns a
function into its converted form (``convert``, ``to_code``).
"""

from .conversion import convert, converted, to_code

__all__ = ["convert", "converted", "to_code"]
