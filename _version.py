"""jitflow's version, in a module of its own so that any part of the package (and the build,
through pyproject's ``version = {attr = ...}``) can read it without importing the package."""

__version__ = "0.1.0"
