"""Test helper: check_example.py OUTPUT.txt MODEL.loom WEIGHTS.npz WORKDIR

Reads what examples/aot-c/main.c printed (batches of token sequences, y for each), runs
`loom run` on the same tokens and checks that the values agree: the AOT object and the JIT
run the same code for the same CPU, so they agree to the printed precision."""
import re
import subprocess
import sys

import numpy as np

out, model, weights, work = sys.argv[1:5]
batches = []
for line in open(out):
    if re.match(r"batch B=\d+ T=\d+", line):
        batches.append(([], []))
        continue
    m = re.match(r"\s+tokens ([\d ]+) -> y = (\S+)", line)
    if m:
        batches[-1][0].append([int(t) for t in m.group(1).split()])
        batches[-1][1].append(float(m.group(2)))
assert batches, "no batch printed"
for i, (tokens, ys) in enumerate(batches):
    x, y = f"{work}/batch{i}.npy", f"{work}/batch{i}.npz"
    np.save(x, np.array(tokens, np.int32))
    subprocess.run(["loom", "run", model, "--weights", weights, "--input", f"x={x}", "-o", y],
                   check=True, stdout=subprocess.DEVNULL)
    want, got = np.load(y)["y"].ravel(), np.array(ys)
    assert want.shape == got.shape, (want.shape, got.shape)
    d = float(np.abs(want - got).max())
    assert d <= 1e-6, f"batch {i}: max abs difference {d}"
print(f"{len(batches)} batches agree with loom run")
