"""Saving and shipping programs (to come): the saved format, a directory with a manifest
(format version, signatures, pytree specs), each signature's traced IR as HLO text, the
weights as safetensors and a SHA-256 fingerprint; loading that runs no code from the files;
checkpoints; and ahead-of-time C shared libraries with a header.  Built on the public API,
the IR text format and the runtime."""
