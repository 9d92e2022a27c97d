#!/usr/bin/env python3
"""Forecasting data: the next 7 weeks of the Mauna Loa CO2 series from the last 52 weeks
(train.npz, val.npz, test.npz), and the baselines' errors on the same windows.

Source: the weekly atmospheric CO2 concentration at Mauna Loa, March 1958 to December
2001 (ppm; 2284 weeks), as shipped in Debian's `python3-statsmodels` (the CSV of
`statsmodels.datasets.co2`, read directly with numpy:
/usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv; installed by
scripts/setup.sh). Its 59 missing weeks are filled by linear interpolation.

Windows: 52 weeks in, the following 7 weeks out, one window per week. The split is by
time: the windows whose 7 target weeks all lie in the last 20% of the series are the
test set (the held-out tail), those in the 10% before it the validation set, the rest
train (no target week of one set is a target week of another).

Each window is made relative to its last observed week (the value at the forecast
origin is subtracted from inputs and targets), so the models see the shape of the last
year and predict the change over the next 7 weeks, in ppm; a forecast's MAE is the same
in these units as in absolute ppm. (Without this, the tail's levels lie above anything
in the training years and no network trained on levels extrapolates to them.)

Output, each of train.npz / val.npz / test.npz:
    x  float32 [N, 52, 1]  the last 52 weeks minus the value of the last one (x[:, -1] = 0)
    t  float32 [N, 7]      the next 7 weeks minus the same value
Deterministic (no randomness).

Usage: python3 gen_data.py [--out-dir .] [--csv PATH]
"""
import argparse
import os

import numpy as np

CSV = "/usr/lib/python3/dist-packages/statsmodels/datasets/co2/co2.csv"
IN, OUT = 52, 7


def load_series(path=CSV):
    rows = [line.strip().split(",") for line in open(path)][1:]
    v = np.array([float(r[1]) if len(r) > 1 and r[1] else np.nan for r in rows])
    idx = np.arange(len(v))
    ok = ~np.isnan(v)
    return np.interp(idx, idx[ok], v[ok])


def windows(series):
    """(x, t, origin) for every window: x [N, IN, 1], t [N, OUT], origin index [N]."""
    n = len(series) - IN - OUT + 1
    x = np.stack([series[i:i + IN] for i in range(n)])
    t = np.stack([series[i + IN:i + IN + OUT] for i in range(n)])
    last = x[:, -1:]
    return (x - last)[:, :, None].astype(np.float32), (t - last).astype(np.float32), \
        np.arange(n) + IN - 1


def split(series):
    """{name: (x, t)}: by the time of the windows' target weeks."""
    x, t, origin = windows(series)
    n = len(series)
    test_start, val_start = int(0.8 * n), int(0.7 * n)
    first = origin + 1          # the first target week
    last = origin + OUT         # the last target week
    sets = {"train": last < val_start,
            "val": (first >= val_start) & (last < test_start),
            "test": first >= test_start}
    return {k: (x[m], t[m]) for k, m in sets.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=".")
    ap.add_argument("--csv", default=CSV)
    args = ap.parse_args()
    series = load_series(args.csv)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, (x, t) in split(series).items():
        np.savez(os.path.join(args.out_dir, name + ".npz"), x=x, t=t)
        print(f"{name}: {len(x)} windows")


if __name__ == "__main__":
    main()
