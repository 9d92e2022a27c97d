#!/usr/bin/env python3
"""Generates the embedded Reber grammar classification dataset (train.npz, val.npz).

Alphabet B, T, P, S, X, V, E -> token ids 1..7; 0 is padding (vocabulary size 8).

The Reber grammar (Reber 1967; the automaton used by Hochreiter & Schmidhuber 1997):

    start --B--> 0
    0 --T--> 1    0 --P--> 2
    1 --S--> 1    1 --X--> 3
    2 --T--> 2    2 --V--> 4
    3 --X--> 2    3 --S--> 5
    4 --P--> 3    4 --V--> 5
    5 --E--> end

The embedded grammar wraps one Reber string R as  B T R T E  or  B P R P E: the symbol
after the first B must be repeated just before the final E, arbitrarily far away.

Half of the examples (label 1) are grammatical embedded Reber strings, sampled by walking
the automaton with fair coin flips. The other half (label 0) are, in equal numbers:
  * "mismatch": a grammatical string whose second-to-last symbol is swapped (T <-> P), i.e.
    B T R P E or B P R T E. Every local transition is valid; only the long-range
    dependency is broken (the classic hard negative).
  * "substitution": one symbol of the inner Reber string R (not its B or E) replaced by a
    different symbol from {T, P, S, X, V}; kept only if the result is ungrammatical.
Negatives keep the length of the string they came from, so length carries no information.
Every string is checked with the recogniser (is_embedded_reber): each positive accepted,
each negative rejected. Strings longer than --max-len (default 30) are redrawn.

Output, each of train.npz / val.npz:
    x        int32   [N, T]  token ids, 0-padded on the right; T = longest string in the file
    label    float32 [N, 1]  1 = grammatical, 0 = not
Examples are shuffled. Deterministic for a given --seed (val is drawn after train from the
same generator). Strings may repeat within and across files (there are few short strings).

Usage: python3 gen_data.py [--n-train 4000] [--n-val 500] [--seed 1] [--out-dir .]
"""
import argparse
import os

import numpy as np

SYMBOLS = "BTPSXVE"
TOKEN = {c: i + 1 for i, c in enumerate(SYMBOLS)}   # B=1 T=2 P=3 S=4 X=5 V=6 E=7; 0 = pad

# state -> ((symbol, next state), (symbol, next state)); state 5 emits E and stops.
REBER = {0: (("T", 1), ("P", 2)),
         1: (("S", 1), ("X", 3)),
         2: (("T", 2), ("V", 4)),
         3: (("X", 2), ("S", 5)),
         4: (("P", 3), ("V", 5))}
INNER = "TPSXV"


def sample_reber(rng):
    s, state = ["B"], 0
    while state != 5:
        sym, state = REBER[state][rng.integers(2)]
        s.append(sym)
    s.append("E")
    return "".join(s)


def sample_embedded(rng):
    c = "TP"[rng.integers(2)]
    return "B" + c + sample_reber(rng) + c + "E"


def is_reber(s):
    if len(s) < 2 or s[0] != "B" or s[-1] != "E":
        return False
    state = 0
    for sym in s[1:-1]:
        if state == 5:
            return False
        nxt = dict(REBER[state]).get(sym)
        if nxt is None:
            return False
        state = nxt
    return state == 5


def is_embedded_reber(s):
    return (len(s) >= 4 and s[0] == "B" and s[-1] == "E" and s[1] in "TP"
            and s[-2] == s[1] and is_reber(s[2:-2]))


def sample_positive(rng, max_len):
    while True:
        s = sample_embedded(rng)
        if len(s) <= max_len:
            return s


def mismatch(s):
    return s[:-2] + {"T": "P", "P": "T"}[s[-2]] + s[-1]


def substitution(rng, s):
    """One symbol of the inner Reber body (positions 3 .. len-4) replaced by another from
    T, P, S, X, V, retried until the result is ungrammatical."""
    while True:
        pos = int(rng.integers(3, len(s) - 3))
        sym = INNER[rng.integers(len(INNER))]
        if sym == s[pos]:
            continue
        t = s[:pos] + sym + s[pos + 1:]
        if not is_embedded_reber(t):
            return t


def make_split(rng, n, max_len):
    strings, labels = [], []
    n_pos = n - n // 2
    n_neg = n - n_pos
    for _ in range(n_pos):
        s = sample_positive(rng, max_len)
        assert is_embedded_reber(s), s
        strings.append(s)
        labels.append(1.0)
    for j in range(n_neg):
        s = sample_positive(rng, max_len)
        t = mismatch(s) if j % 2 == 0 else substitution(rng, s)
        assert not is_embedded_reber(t), t
        strings.append(t)
        labels.append(0.0)
    order = rng.permutation(n)
    strings = [strings[i] for i in order]
    labels = np.asarray(labels, dtype=np.float32)[order]
    tmax = max(len(s) for s in strings)
    x = np.zeros((n, tmax), dtype=np.int32)
    for i, s in enumerate(strings):
        x[i, :len(s)] = [TOKEN[c] for c in s]
    lengths = np.asarray([len(s) for s in strings], dtype=np.int32)
    return x, lengths, labels[:, None], strings


def self_test(rng):
    assert is_reber("BTXSE") and is_reber("BPVVE") and is_reber("BTSSXXTVVE")
    assert not is_reber("BTXE") and not is_reber("BTSE")
    assert is_embedded_reber("BTBTXSETE") and not is_embedded_reber("BTBTXSEPE")
    for _ in range(1000):
        s = sample_embedded(rng)
        assert is_embedded_reber(s) and not is_embedded_reber(mismatch(s))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-val", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=30,
                    help="longest string kept (longer ones are redrawn)")
    ap.add_argument("--out-dir", default=".")
    args = ap.parse_args()
    assert args.max_len >= 9, "the shortest embedded Reber string has 9 symbols"
    self_test(np.random.default_rng(0))
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, n in (("train", args.n_train), ("val", args.n_val)):
        x, lengths, label, _ = make_split(rng, n, args.max_len)
        path = os.path.join(args.out_dir, f"{name}.npz")
        # No lengths array: the model masks the padding itself (embedding mask_zero=true).
        np.savez(path, x=x, label=label)
        print(f"{path}: x {x.shape} (lengths {lengths.min()}..{lengths.max()}, "
              f"mean {lengths.mean():.1f}), {int(label.sum())} grammatical / {n}")


if __name__ == "__main__":
    main()
