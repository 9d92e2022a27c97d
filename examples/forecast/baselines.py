#!/usr/bin/env python3
"""The baselines of the CO2 forecast, by MAE (ppm) over the 7 forecast weeks of every
window of a set (default: the held-out tail, test.npz), and optionally loom's forecasts.

- last value: every one of the next 7 weeks equals the last observed week (0 in the
  windows' relative units);
- seasonal naive: week t+h equals week t+h-52, the same week a year earlier (x[:, h-1]);
- linear: least squares (with a small ridge penalty, 1e-3) from the 52 input weeks and a
  bias to the 7 targets, fitted on train.npz.

With --loom MODEL.npz (the `y` of `loom run ... -o`), that forecast's MAE too.

Usage: python3 baselines.py [--data-dir .] [--set test] [--loom NAME=preds.npz ...]
"""
import argparse
import os

import numpy as np


def linear_fit(x, t, ridge=1e-3):
    a = np.concatenate([x[:, :, 0], np.ones((len(x), 1))], 1).astype(np.float64)
    return np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ t)


def linear_predict(w, x):
    return np.concatenate([x[:, :, 0], np.ones((len(x), 1))], 1) @ w


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=".")
    ap.add_argument("--set", default="test")
    ap.add_argument("--loom", action="append", default=[],
                    help="NAME=preds.npz: a loom run's output (key y) to score as well")
    args = ap.parse_args()
    tr = np.load(os.path.join(args.data_dir, "train.npz"))
    ev = np.load(os.path.join(args.data_dir, args.set + ".npz"))
    x, t = ev["x"], ev["t"]
    preds = {
        "last value": np.zeros_like(t),
        "seasonal naive (52 weeks)": x[:, :7, 0],
        "linear (least squares)": linear_predict(linear_fit(tr["x"], tr["t"]), x),
    }
    for spec in args.loom:
        name, path = spec.split("=", 1)
        preds[name] = np.load(path)["y"]
    print(f"MAE over the 7 weeks of {len(t)} {args.set} windows (ppm); per horizon 1..7:")
    for name, p in preds.items():
        err = np.abs(p - t)
        print(f"  {name:28s} {err.mean():.4f}   " + " ".join(f"{e:.3f}" for e in err.mean(0)))


if __name__ == "__main__":
    main()
