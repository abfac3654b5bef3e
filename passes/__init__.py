"""Passes: IR to better IR (pass manager, custom passes, the optimization pipeline)."""
