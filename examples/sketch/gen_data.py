#!/usr/bin/env python3
"""Generates a QuickDraw-style sketch classification dataset (train.npz, val.npz, test.npz).

QuickDraw itself cannot be downloaded on this machine, so the drawings are SYNTHETIC: each
is a pen drawing of one of 12 shape classes, made of one or more strokes, with a random
scale (0.5 .. 1.5), rotation (any angle), aspect stretch, start point along the outline,
drawing direction, per-point jitter and a random number of points per stroke. Classes:

   0 circle     1 triangle   2 square     3 pentagon   4 hexagon   5 star (5 points)
   6 spiral     7 zigzag     8 sine wave  9 cross (2 strokes, a pen lift between)
  10 arrow (shaft, then the head as a second stroke)   11 house (square, then the roof)

As in the QuickDraw RNN tutorial, a drawing is a sequence of steps (dx, dy, pen_lifted):
the offset from the previous point and 1 on the last point of each stroke (the pen is
lifted before the next point). Coordinates are normalised per drawing to the [0, 1] box
of its longer side, then the offsets are taken; drawings are cropped at 100 steps and
zero-padded at the end to 100 (zero offsets with the pen down: no movement).

Output, each of train.npz / val.npz / test.npz:
    x        float32 [N, 100, 3]  (dx, dy, pen_lifted) steps
    label    int32   [N]          class id 0..11
(The number of real steps per drawing is printed, not stored: `loom train` refuses arrays
that are not model inputs or targets.)
Balanced classes, shuffled; deterministic for a given --seed (val and test are drawn after
train from the same generator).

Usage: python3 gen_data.py [--n-train 12000] [--n-val 1200] [--n-test 2400] [--seed 1]
                           [--out-dir .] [--plot samples.png]
"""
import argparse
import os

import numpy as np

CLASSES = ["circle", "triangle", "square", "pentagon", "hexagon", "star", "spiral",
           "zigzag", "sine", "cross", "arrow", "house"]
T = 100


def polygon(n, rng, star=False):
    k = 2 * n if star else n
    ang = np.pi / 2 + 2 * np.pi * np.arange(k + 1) / k
    r = np.ones(k + 1)
    if star:
        r[1::2] = 0.38
    return np.stack([r * np.cos(ang), r * np.sin(ang)], 1)


def resample(pts, n):
    """n points evenly spaced along the polyline pts (so the point count varies)."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    t = np.linspace(0, s[-1], n)
    return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], 1)


def closed_from(pts, rng):
    """A closed outline started at a random vertex, drawn in a random direction."""
    core = pts[:-1]
    core = np.roll(core, -int(rng.integers(len(core))), axis=0)
    if rng.random() < 0.5:
        core = core[::-1]
    return np.concatenate([core, core[:1]])


def strokes_for(c, rng):
    n = lambda lo, hi: int(rng.integers(lo, hi))
    if c == 0:
        a = np.linspace(0, 2 * np.pi * rng.uniform(0.95, 1.1), n(20, 40))
        a += rng.uniform(0, 2 * np.pi)
        return [np.stack([np.cos(a), np.sin(a)], 1)]
    if c in (1, 2, 3, 4):
        p = closed_from(polygon({1: 3, 2: 4, 3: 5, 4: 6}[c], rng), rng)
        return [resample(p, n(12, 36))]
    if c == 5:
        return [resample(closed_from(polygon(5, rng, star=True), rng), n(20, 45))]
    if c == 6:
        turns = rng.uniform(2.0, 3.5)
        a = np.linspace(0, 2 * np.pi * turns, n(35, 70))
        r = 0.1 + a / a[-1]
        return [np.stack([r * np.cos(a), r * np.sin(a)], 1)]
    if c == 7:
        k = n(4, 8)
        xs = np.linspace(-1, 1, k + 1)
        ys = np.where(np.arange(k + 1) % 2 == 0, -0.4, 0.4)
        return [resample(np.stack([xs, ys], 1), n(15, 40))]
    if c == 8:
        cycles = rng.uniform(1.5, 3.0)
        t = np.linspace(-1, 1, n(25, 55))
        return [np.stack([t, 0.4 * np.sin(np.pi * cycles * (t + 1))], 1)]
    if c == 9:
        a = resample(np.array([[-1, -1], [1, 1.0]]), n(6, 16))
        b = resample(np.array([[1, -1], [-1, 1.0]]), n(6, 16))
        return [a, b]
    if c == 10:
        shaft = resample(np.array([[-1, 0], [1, 0.0]]), n(8, 20))
        head = resample(np.array([[0.5, 0.45], [1, 0], [0.5, -0.45]]), n(6, 14))
        return [shaft, head]
    if c == 11:
        box = np.array([[-1, -1], [1, -1], [1, 0.6], [-1, 0.6], [-1, -1.0]])
        roof = np.array([[-1, 0.6], [0, 1.5], [1, 0.6]])
        return [resample(box, n(14, 30)), resample(roof, n(6, 16))]
    raise ValueError(c)


def drawing(c, rng):
    strokes = strokes_for(c, rng)
    if c in (7, 8, 9, 10) and rng.random() < 0.5:          # drawn right to left
        strokes = [s[::-1] for s in strokes]
    th = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    stretch = np.diag([rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25)])
    scale = rng.uniform(0.5, 1.5)
    out = []
    for s in strokes:
        s = s @ stretch @ rot.T * scale
        s = s + rng.normal(0, 0.03 * scale, s.shape)         # hand jitter
        out.append(s)
    pts = np.concatenate(out)
    lo, hi = pts.min(0), pts.max(0)
    span = max((hi - lo).max(), 1e-6)
    steps = []
    prev = None
    for s in out:
        s = (s - lo) / span
        for i, p in enumerate(s):
            d = p - prev if prev is not None else np.zeros(2)
            steps.append((d[0], d[1], 1.0 if i == len(s) - 1 else 0.0))
            prev = p
    steps = np.asarray(steps, dtype=np.float32)[:T]
    return steps


def make_split(rng, n):
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    x = np.zeros((n, T, 3), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int32)
    for i, c in enumerate(labels):
        d = drawing(int(c), rng)
        x[i, :len(d)] = d
        lengths[i] = len(d)
    return x, labels.astype(np.int32), lengths


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=12000)
    ap.add_argument("--n-val", type=int, default=1200)
    ap.add_argument("--n-test", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-dir", default=".")
    ap.add_argument("--plot", metavar="PNG", help="also draw 3 test drawings of each class")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, n in (("train", args.n_train), ("val", args.n_val), ("test", args.n_test)):
        x, label, lengths = make_split(rng, n)
        np.savez(os.path.join(args.out_dir, name + ".npz"), x=x, label=label)
        print(f"{name}: {n} drawings, {len(CLASSES)} classes, "
              f"steps {lengths.min()}..{lengths.max()} (mean {lengths.mean():.1f})")
    if args.plot:
        plot(x, label, args.plot)


def plot(x, label, path):
    """Three drawings of each class, from the (dx, dy, pen_lifted) steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(3, len(CLASSES), figsize=(1.4 * len(CLASSES), 4.4))
    for c, name in enumerate(CLASSES):
        for r, i in enumerate(np.flatnonzero(label == c)[:3]):
            ax = axes[r, c]
            pts = np.cumsum(x[i, :, :2], axis=0)
            start = 0
            for j in range(len(pts)):
                if x[i, j, 2] == 1 or j == len(pts) - 1:
                    ax.plot(pts[start:j + 1, 0], pts[start:j + 1, 1], "-", lw=1.2)
                    start = j + 1
            ax.set_aspect("equal")
            ax.axis("off")
            if r == 0:
                ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    main()
