"""Test helper: make_weights.py GOOD.npz OUTDIR KEY NEWKEY

Writes three broken copies of a weights file for the weights-file tests: OUTDIR/missing.npz
without KEY, OUTDIR/misshaped.npz with KEY's last dim halved, OUTDIR/extra.npz with NEWKEY
added."""
import sys

import numpy as np

good, out, key, extra = sys.argv[1:5]
w = dict(np.load(good))
d = dict(w)
del d[key]
np.savez(f"{out}/missing.npz", **d)
d = dict(w)
d[key] = np.zeros(w[key].shape[:-1] + (w[key].shape[-1] // 2,), np.float32)
np.savez(f"{out}/misshaped.npz", **d)
d = dict(w)
d[extra] = np.zeros((2,), np.float32)
np.savez(f"{out}/extra.npz", **d)
