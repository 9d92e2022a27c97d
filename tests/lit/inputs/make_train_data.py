"""Test helper for loom train / eval: make_train_data.py OUT.npz KIND N [SEED]

KIND  linear: x f32 [N, 3] in [-1, 1], t = x @ [1, -2, 0.5] + 0.3 (f32 [N, 1])
      seq:    x f32 [N, 5, 2], t f32 [N, 5, 1] = x0 - x1
      sparse: x f32 [N, 3], label i32 [N] = argmax over (x0, x1, x2, 0.2)
"""
import sys
import numpy as np

out, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
if kind == "linear":
    x = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    t = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    np.savez(out, x=x, t=t)
elif kind == "seq":
    x = rng.uniform(-1, 1, (n, 5, 2)).astype(np.float32)
    np.savez(out, x=x, t=(x[:, :, :1] - x[:, :, 1:]).astype(np.float32))
elif kind == "sparse":
    x = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    scores = np.concatenate([x, np.full((n, 1), 0.2, np.float32)], axis=1)
    np.savez(out, x=x, label=scores.argmax(axis=1).astype(np.int32))
else:
    sys.exit("unknown kind " + kind)
