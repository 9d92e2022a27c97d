#!/usr/bin/env python3
"""Text classification data from Debian's `fortunes` package: which fortune file a quotation
comes from (train.npz, val.npz, test.npz, vocab.txt).

Source: the UTF-8 fortune files in /usr/share/games/fortunes (Debian package `fortunes`,
installed by scripts/setup.sh). Each file holds quotations separated by lines holding
only `%`. Six files are the six classes:

    0 computers   1 definitions   2 politics   3 science   4 songs-poems   5 zippy

Each class is capped at --per-class quotations (default 600, taken in file order; zippy and
science have fewer or about that many), so the classes are nearly balanced. The
quotations of each class are shuffled with --seed and split 70% / 10% / 20% into train,
val and test.

Text: lowercased, split into words ([a-z0-9']+) and the punctuation marks . , ; : ! ? " -
as tokens; at most --max-len tokens (default 80; longer quotations are cut). Vocabulary:
the tokens seen at least twice in train, most frequent first, at most --vocab (default
8000) ids in all; id 0 is padding, id 1 an unknown token. vocab.txt lists the ids' tokens.

Output, each of train.npz / val.npz / test.npz:
    x        int32 [N, T]  token ids, 0-padded on the right; T = the longest in the file
    label    int32 [N]     class id 0..5
Deterministic for a given --seed.

Usage: python3 gen_data.py [--per-class 600] [--max-len 80] [--vocab 8000] [--seed 1]
                           [--out-dir .] [--fortunes /usr/share/games/fortunes]
"""
import argparse
import collections
import os
import re

import numpy as np

CLASSES = ["computers", "definitions", "politics", "science", "songs-poems", "zippy"]
TOKEN = re.compile(r"[a-z0-9']+|[.,;:!?\"-]")


def read_fortunes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    quotes = [q.strip() for q in re.split(r"^%\s*$", text, flags=re.M)]
    return [q for q in quotes if q]


def tokens(q, max_len):
    return TOKEN.findall(q.lower())[:max_len]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=600)
    ap.add_argument("--max-len", type=int, default=80)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-dir", default=".")
    ap.add_argument("--fortunes", default="/usr/share/games/fortunes")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    splits = {"train": [], "val": [], "test": []}
    for c, name in enumerate(CLASSES):
        path = os.path.join(args.fortunes, name + ".u8")
        if not os.path.exists(path):
            path = os.path.join(args.fortunes, name)
        quotes = read_fortunes(path)[:args.per_class]
        toks = [tokens(q, args.max_len) for q in quotes]
        toks = [t for t in toks if t]
        order = rng.permutation(len(toks))
        n_tr, n_va = int(0.7 * len(toks)), int(0.1 * len(toks))
        for i, j in enumerate(order):
            s = "train" if i < n_tr else "val" if i < n_tr + n_va else "test"
            splits[s].append((toks[j], c))

    counts = collections.Counter(w for t, _ in splits["train"] for w in t)
    words = [w for w, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if k >= 2]
    words = words[:args.vocab - 2]
    ids = {w: i + 2 for i, w in enumerate(words)}

    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "vocab.txt"), "w") as f:
        f.write("<pad>\n<unk>\n" + "".join(w + "\n" for w in words))
    for s, rows in splits.items():
        rows = [rows[i] for i in rng.permutation(len(rows))]
        t = max(len(r[0]) for r in rows)
        x = np.zeros((len(rows), t), dtype=np.int32)
        for i, (toks, _) in enumerate(rows):
            x[i, :len(toks)] = [ids.get(w, 1) for w in toks]
        label = np.asarray([c for _, c in rows], dtype=np.int32)
        np.savez(os.path.join(args.out_dir, s + ".npz"), x=x, label=label)
        print(f"{s}: {len(rows)} quotations, T={t}, per class {np.bincount(label).tolist()}")
    print(f"vocabulary: {len(words) + 2} ids")


if __name__ == "__main__":
    main()
