#!/usr/bin/python3
"""The embedded Reber grammar (examples/reber/) from Python: generate the data, train the
GRU classifier of examples/layers/reber.loom with fit and early stopping, evaluate, save.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/reber.py [--out DIR] [--quick]
"""
import argparse
import importlib.util
import os

import numpy as np

import loom

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reber_data(n, seed, max_len=30):
    spec = importlib.util.spec_from_file_location(
        "gen_data", os.path.join(ROOT, "examples", "reber", "gen_data.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    x, _, label, _ = gen.make_split(np.random.default_rng(seed), n, max_len)
    return x, label


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="where trained.npz and curves.png go")
    ap.add_argument("--quick", action="store_true", help="a small run (the test suite's)")
    args = ap.parse_args()
    n, epochs = (300, 3) if args.quick else (4000, 20)
    xs, ys = reber_data(n, seed=1)
    xv, yv = reber_data(n // 8, seed=2)

    m = loom.Model.from_file(os.path.join(ROOT, "examples", "layers", "reber.loom"))
    print(m)
    hist = m.fit({"x": xs}, {"label": ys}, epochs=epochs, batch_size=32,
                 validation_data=({"x": xv}, {"label": yv}), seed=3, verbose=2,
                 callbacks=[loom.callbacks.EarlyStopping(monitor="val_loss", patience=3,
                                                         restore_best_weights=True)])
    loss, acc = m.evaluate({"x": xv}, {"label": yv})
    print(f"validation: loss {loss:.4f}, accuracy {acc:.4f}")
    p = m(x=xv[:4])
    print("P(grammatical) of the first 4 strings:", np.round(p.ravel(), 3), "labels",
          yv[:4].ravel())
    m.save_weights(os.path.join(args.out, "trained.npz"))
    hist.plot(os.path.join(args.out, "curves.png"))
    print("wrote", os.path.join(args.out, "trained.npz"), "and curves.png")


if __name__ == "__main__":
    main()
