"""Test helper: compare_outputs.py EXPECTED.npz PREFIX ATOL

Checks that PREFIX<k>.npy (written by tests/aot/driver.c) holds the k-th array of the .npz
that `loom run` wrote: same shape, values within ATOL."""
import sys

import numpy as np

want, prefix, atol = np.load(sys.argv[1]), sys.argv[2], float(sys.argv[3])
for k, name in enumerate(want.files):
    got = np.load(f"{prefix}{k}.npy")
    assert got.shape == want[name].shape, (name, got.shape, want[name].shape)
    d = float(np.abs(got.astype(np.float64) - want[name]).max()) if got.size else 0.0
    assert d <= atol, f"{name}: max abs difference {d} > {atol}"
print(f"{len(want.files)} output(s) agree")
