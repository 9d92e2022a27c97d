#!/usr/bin/python3
"""What `import loom` costs over the C++ API (issue #18's targets):

1. a call of a small compiled model from Python (m(x=...)) against the same call through
   loom::Model::run (bench/api_call.cpp), median microseconds per call;
2. Model.fit against `loom train` on the Reber task, samples per second (median of epochs
   2.., same data, same flags).

    PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py [--build build]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_call_us(model, b, t, calls):
    import loom
    m = loom.Model.from_file(model)
    m.init_weights(1)
    spec = m.inputs[0]
    shape = [t if d == "T" else b if isinstance(d, str) else d for d in spec.shape]
    x = np.full(shape, 0.5 if spec.dtype == np.float32 else 1, spec.dtype)
    us = []
    for i in range(calls + calls // 10):
        t0 = time.perf_counter()
        m(x)
        t1 = time.perf_counter()
        if i >= calls // 10:
            us.append((t1 - t0) * 1e6)
    return statistics.median(us)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.build, "python"))
    import loom

    print("## Calling a small model: Python vs the C++ API (median us per call)")
    for model, b, t in [("examples/shapes/simple_rnn.loom", 1, 1),
                        ("examples/shapes/simple_rnn.loom", 2, 4),
                        ("examples/layers/reber.loom", 1, 10)]:
        path = os.path.join(ROOT, model)
        cpp = float(subprocess.run([os.path.join(a.build, "bench", "api_call_bench"), path,
                                    str(b), str(t), str(a.calls)], check=True,
                                   capture_output=True, text=True).stdout)
        py = python_call_us(path, b, t, a.calls)
        print(f"{model} B={b} T={t}: C++ {cpp:.2f} us, Python {py:.2f} us, "
              f"overhead {py - cpp:.2f} us")

    print("## Training the Reber model: Model.fit vs loom train (samples/s, median of epochs 2..)")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(ROOT, "examples", "reber", "gen_data.py"),
                        "--n-train", "4000", "--n-val", "10", "--out-dir", d], check=True,
                       capture_output=True)
        reber = os.path.join(ROOT, "examples", "layers", "reber.loom")
        p = subprocess.run([os.path.join(a.build, "tools", "loom"), "train", reber, "--data",
                            os.path.join(d, "train.npz"), "-o", os.path.join(d, "w.npz"),
                            "--epochs", str(a.epochs), "--shuffle"], check=True,
                           capture_output=True, text=True)
        cli = [float(s) for s in re.findall(r"(\d+) samples/s", p.stderr)][1:]
        tr = np.load(os.path.join(d, "train.npz"))

        class Rate(loom.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.rates = []

            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.rates.append(len(tr["x"]) / (time.perf_counter() - self.t0))

        rate = Rate()
        loom.Model.from_file(reber).fit(tr["x"], tr["label"], epochs=a.epochs, verbose=0,
                                        callbacks=[rate])
        c, py = statistics.median(cli), statistics.median(rate.rates[1:])
        print(f"loom train {c:.0f} samples/s, Model.fit {py:.0f} samples/s "
              f"({100 * py / c:.1f}%)")


if __name__ == "__main__":
    main()
