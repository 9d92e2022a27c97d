"""Test helper: compare_npz.py A.npz B.npz ATOL -- same keys, shapes, values within ATOL."""
import sys
import numpy as np

a, b, atol = np.load(sys.argv[1]), np.load(sys.argv[2]), float(sys.argv[3])
assert sorted(a.files) == sorted(b.files), (a.files, b.files)
for k in a.files:
    assert a[k].shape == b[k].shape, (k, a[k].shape, b[k].shape)
    d = float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) if a[k].size else 0.0
    assert d <= atol, f"{k}: max abs difference {d} > {atol}"
print("same")
