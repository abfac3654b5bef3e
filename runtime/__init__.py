"""Runtime: executables, buffers, compilation caches."""
