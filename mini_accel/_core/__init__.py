"""Private Cython kernels. No validation happens here: call the public API."""
