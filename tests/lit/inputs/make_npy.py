"""Test helper: writes arrays for CLI tests. Usage: make_npy.py OUT.npy DTYPE D0 D1 ..."""
import sys
import numpy as np

out, dtype, dims = sys.argv[1], sys.argv[2], [int(d) for d in sys.argv[3:]]
rng = np.random.default_rng(7)
if dtype.startswith("i"):
    a = rng.integers(0, 5, dims).astype(dtype)
else:
    a = rng.standard_normal(dims).astype(dtype)
np.save(out, a)
