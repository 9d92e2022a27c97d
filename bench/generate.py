#!/usr/bin/python3
"""Tokens per second of compiled generation (issue #17's speed targets): character language
models (GRU and LSTM, 512 units, 100 ids; bench/models/charlm.loom) generating 1000 tokens,
greedy and sampled (temperature 0.8, top-k 20), at B = 1 and B = 32, against PyTorch's eager
host loop as its users write it (one nn.GRU/nn.LSTM step, Linear, argmax or multinomial per
token) and, for beam search (K = 5, B = 1), a PyTorch reference beam search in the same
style. Also: at B = 1, a generated token's cost against one step of the same network run
over a given sequence of 1000 tokens (`*_seq`).

    PYTHONPATH=build/python /usr/bin/python3 bench/generate.py [--threads N] [--reps R]

Prints a markdown table. PyTorch runs with the threads given (torch.set_num_threads); its
BLAS is OpenBLAS pinned by this machine's environment to its AVX2 kernels
(OPENBLAS_CORETYPE), which this script leaves alone.
"""
import argparse
import os
import statistics
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "bench", "models", "charlm.loom")
V, E, H, N = 100, 64, 512, 1000


def timed(fn, reps):
    fn()  # warm up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def loom_runs(kind, reps):
    import loom
    out = {}
    seq = loom.Model.from_file(MODEL, model=f"{kind}_seq")
    seq.init_weights(1)
    x = np.ones((1, N), np.int32)
    out["seq_step_ms"] = timed(lambda: seq(x=x), reps) / N * 1e3
    weights = seq.get_weights() if hasattr(seq, "get_weights") else None
    for mode, settings in (("greedy", {}), ("sampled", {"sample": True, "temperature": 0.8,
                                                       "top_k": 20}),
                           ("beam5", {"beams": 5})):
        m = loom.Model.from_file(MODEL, model=f"{kind}_gen", generate=settings)
        m.init_weights(1)
        for b in ((1, 32) if mode != "beam5" else (1,)):
            start = np.ones((b,), np.int32)
            args = {"start": start}
            if mode == "sampled":
                args["seed"] = np.int32(1)
            r = m(**args)
            assert r["ids"].shape == (b, N), r["ids"].shape
            out[(mode, b)] = b * N / timed(lambda: m(**args), reps)
    return out


def torch_runs(kind, reps):
    import torch
    torch.manual_seed(0)
    emb = torch.nn.Embedding(V, E)
    rnn = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(E, H, batch_first=True)
    lin = torch.nn.Linear(H, V)
    out = {}

    @torch.no_grad()
    def generate(b, sample):
        tok = torch.ones(b, 1, dtype=torch.long)
        state = None
        ids = []
        for _ in range(N):
            y, state = rnn(emb(tok), state)
            logits = lin(y[:, -1])
            if sample:
                logits = logits / 0.8
                v, i = torch.topk(logits, 20)
                p = torch.softmax(v, -1)
                tok = i.gather(1, torch.multinomial(p, 1))
            else:
                tok = logits.argmax(-1, keepdim=True)
            ids.append(tok)
        return torch.cat(ids, 1)

    @torch.no_grad()
    def beam(K=5):
        tok = torch.ones(K, 1, dtype=torch.long)
        state = None
        score = torch.tensor([0.0] + [-1e9] * (K - 1))
        hist = torch.zeros(K, N, dtype=torch.long)
        for t in range(N):
            y, state = rnn(emb(tok), state)
            lp = torch.log_softmax(lin(y[:, -1]), -1)
            v, i = torch.topk((score[:, None] + lp).reshape(-1), K)
            parent, tok = i // V, (i % V)[:, None]
            state = state[:, parent] if kind == "gru" else (state[0][:, parent],
                                                            state[1][:, parent])
            hist = hist[parent]
            hist[:, t] = tok[:, 0]
            score = v
        return hist[score.argmax()]

    for sample, mode in ((False, "greedy"), (True, "sampled")):
        for b in (1, 32):
            out[(mode, b)] = b * N / timed(lambda: generate(b, sample), max(1, reps // 2))
    out[("beam5", 1)] = N / timed(beam, max(1, reps // 2))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    import loom  # noqa: F401 (after OMP_NUM_THREADS)
    print(f"threads {a.threads}; tokens per second (median of {a.reps} runs of {N} tokens)\n")
    print("| network | decoding | B | loom tok/s | PyTorch tok/s | loom / PyTorch |")
    print("|---|---|---:|---:|---:|---:|")
    notes = []
    for kind in ("gru", "lstm"):
        lo, to = loom_runs(kind, a.reps), torch_runs(kind, a.reps)
        for key in (("greedy", 1), ("greedy", 32), ("sampled", 1), ("sampled", 32),
                    ("beam5", 1)):
            mode, b = key
            print(f"| {kind} 512 | {mode} | {b} | {lo[key]:,.0f} | {to[key]:,.0f} | "
                  f"{lo[key] / to[key]:.1f}× |")
        tok_ms = 1e3 / lo[("greedy", 1)]
        notes.append(f"{kind}: a greedy token at B = 1 costs {tok_ms * 1e3:.1f} µs; one step of "
                     f"`{kind}_seq` over 1000 given tokens costs {lo['seq_step_ms'] * 1e3:.1f} µs "
                     f"(ratio {tok_ms / lo['seq_step_ms']:.2f})")
    print()
    for n in notes:
        print("- " + n)


if __name__ == "__main__":
    main()
