"""An embedding example against `loom run`: same model, weights and inputs, same outputs.

Usage: check_example.py LOOM EXAMPLE WORKDIR MODEL.loom [MODEL.loom ...]

For each model: `loom init --seed 1` writes the weights, the inputs the examples make
(symbols B=2, T=4, others 3; f32 element i = ((7 i) mod 11 - 5) / 8, i32 element
i = 1 + i mod 3) go to an .npz for `loom run`, and the outputs EXAMPLE prints must match
loom's. The first model is also run with no arguments (the example's default model and
its seed-1 weights) when it is the default, simple_rnn.loom.
"""
import os
import re
import subprocess
import sys

import numpy as np

ATOL = 1e-6


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAILED ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def inputs_of(loom, model):
    """[(name, dtype, [dim, ...])] from `loom check`."""
    out = []
    for line in run([loom, "check", model]).splitlines():
        m = re.match(r"\s+input\s+(\S+): (f32|i32)\[(.*)\]$", line)
        if m:
            out.append((m[1], m[2], m[3].split(",") if m[3] else []))
    return out


def make_inputs(spec):
    arrays = {}
    for name, dtype, dims in spec:
        shape = [int(d) if d.isdigit() else {"B": 2, "T": 4}.get(d, 3) for d in dims]
        i = np.arange(int(np.prod(shape)), dtype=np.int64)
        if dtype == "f32":
            a = (((7 * i) % 11 - 5) / 8.0).astype(np.float32)
        else:
            a = (1 + i % 3).astype(np.int32)
        arrays[name] = a.reshape(shape)
    return arrays


def parse_printed(text):
    """{name: array} from lines 'y: f32 (2, 4, 64)' each followed by indented values."""
    outs, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^(\S+): (f32|i32) \((.*)\)$", line)
        if m:
            cur = m[1]
            shape = tuple(int(x) for x in m[3].replace(",", " ").split())
            outs[cur] = (shape, [])
        elif cur and line.startswith("  "):
            outs[cur][1].extend(float(v) for v in line.split())
    return {k: np.array(v, dtype=np.float64).reshape(shape) for k, (shape, v) in outs.items()}


def compare(got, ref, what):
    if sorted(got) != sorted(ref.files):
        sys.exit(f"{what}: printed outputs {sorted(got)}, loom run wrote {sorted(ref.files)}")
    for k in ref.files:
        want = ref[k].astype(np.float64)
        if got[k].shape != want.shape:
            sys.exit(f"{what}: output {k}: shape {got[k].shape}, loom run gave {want.shape}")
        d = float(np.abs(got[k] - want).max()) if want.size else 0.0
        if d > ATOL:
            sys.exit(f"{what}: output {k}: max abs difference {d} > {ATOL}")


def check(loom, example, work, models):
    os.makedirs(work, exist_ok=True)
    for n, model in enumerate(models):
        tag = os.path.join(work, f"{n}_{os.path.splitext(os.path.basename(model))[0]}")
        w, x, ref = tag + "_w.npz", tag + "_in.npz", tag + "_ref.npz"
        run([loom, "init", model, "-o", w, "--seed", "1"])
        np.savez(x, **make_inputs(inputs_of(loom, model)))
        run([loom, "run", model, "--weights", w, "--inputs", x, "-o", ref])
        reference = np.load(ref)
        what = f"{os.path.basename(example)} {os.path.basename(model)}"
        compare(parse_printed(run([example, model, w])), reference, what)
        if n == 0 and os.path.basename(model) == "simple_rnn.loom":
            compare(parse_printed(run([example])), reference, what + " (no arguments)")
        print(f"{what}: same outputs as loom run")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    check(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
