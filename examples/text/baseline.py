#!/usr/bin/env python3
"""Bag-of-words logistic regression (numpy only), the baseline for the fortunes classifier.

Features: for each quotation, which vocabulary ids occur in it (binary bag of words, ids 0
(padding) and 1 (unknown) left out), scaled to unit L2 norm. Model: multinomial logistic
regression (softmax over the classes, weights and biases), trained by full-batch gradient
descent with momentum on the mean cross-entropy plus an L2 penalty; the penalty is chosen
from a few values by validation accuracy, then the test accuracy is reported.

Usage: python3 baseline.py [--data-dir .]
"""
import argparse
import os

import numpy as np


def features(x):
    """Each row's distinct ids (0 = padding and 1 = unknown left out) and their weights
    (1 / sqrt(count): the binary bag of words scaled to unit L2 norm), as [N, T] arrays:
    a sparse row of the bag-of-words matrix each."""
    ids = np.zeros_like(x)
    val = np.zeros(x.shape, dtype=np.float64)
    for i, row in enumerate(x):
        u = np.unique(row[row > 1])
        ids[i, :len(u)] = u
        val[i, :len(u)] = 1.0 / np.sqrt(max(len(u), 1))
    return ids, val


def logits(f, w, b):
    ids, val = f
    return (w[ids] * val[..., None]).sum(1) + b


def train(f, y, v, k, l2, steps=500, lr=4.0):
    """Full-batch gradient descent with momentum 0.9 on mean cross-entropy + l2/2 |w|^2."""
    ids, val = f
    w = np.zeros((v, k))
    b = np.zeros(k)
    mw, mb = np.zeros_like(w), np.zeros_like(b)
    onehot = np.eye(k)[y]
    for _ in range(steps):
        z = logits(f, w, b)
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(y)
        gw = l2 * w
        for c in range(k):
            gw[:, c] += np.bincount(ids.ravel(), (val * g[:, c:c + 1]).ravel(), minlength=v)
        gb = g.sum(0)
        mw = 0.9 * mw + gw
        mb = 0.9 * mb + gb
        w -= lr * mw
        b -= lr * mb
    return w, b


def accuracy(f, y, w, b):
    return float((logits(f, w, b).argmax(1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=".")
    args = ap.parse_args()
    d = {s: np.load(os.path.join(args.data_dir, s + ".npz")) for s in ("train", "val", "test")}
    v = 1 + max(int(d[s]["x"].max()) for s in d)
    k = 1 + int(d["train"]["label"].max())
    f = {s: features(d[s]["x"]) for s in d}
    y = {s: d[s]["label"] for s in d}
    best = None
    for l2 in (3e-4, 1e-4, 0.0):
        w, b = train(f["train"], y["train"], v, k, l2)
        acc = accuracy(f["val"], y["val"], w, b)
        print(f"l2 {l2:g}: train accuracy {accuracy(f['train'], y['train'], w, b):.4f}, "
              f"val accuracy {acc:.4f}")
        if best is None or acc > best[0]:
            best = (acc, l2, w, b)
    acc, l2, w, b = best
    print(f"bag-of-words logistic regression (l2 {l2:g}): "
          f"test accuracy {accuracy(f['test'], y['test'], w, b):.4f}")


if __name__ == "__main__":
    main()
