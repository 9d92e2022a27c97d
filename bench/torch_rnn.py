#!/usr/bin/python3
"""Time PyTorch's nn.LSTM / nn.GRU forward (inference) or training step for bench/run.py.

    /usr/bin/python3 bench/torch_rnn.py --cell lstm|gru --batch B --time T --input I \
        --hidden H [--iters N] [--warmup W] [--threads N] [--thread-mode blas|both] [--train]

One layer, one direction, float32, zero initial state, inputs [T, B, I] (batch_first=False),
under torch.no_grad(). Every step's output is produced (as loom with return_sequences=true and
oneDNN's dst_layer). Prints one line of JSON like bench/onednn_rnn.cpp:
{"median_ms":..,"p10_ms":..,"p90_ms":..,"gflops":..}, gflops = 2*B*T*G*H*(I+H) / median.

--train times one training step like `loom bench --train` with the bench models' train block:
forward, mse loss of every step's output against a random target [T, B, H], backward (the
input does not require a gradient, as in loom), torch.optim.SGD(lr=0.001) step, zero_grad.
gflops then counts 3 * 2*B*T*G*H*(I+H) (as onednn_rnn.cpp --train).

Threads. Debian's PyTorch 1.13 runs the RNN as a per-step loop of OpenBLAS GEMMs (not
oneDNN's RNN path). With --thread-mode blas (the default) ATen gets 1 thread and OpenBLAS
gets --threads threads: on a 2-core machine that is PyTorch's better 2-thread configuration
(see /work/shared/bench-anchors.md: ATen 2 + OpenBLAS 2 fight over the 2 cores and are slower
than 1 thread). --thread-mode both gives ATen and OpenBLAS --threads threads each.
OpenBLAS reads its thread count when it is loaded, so this script sets the environment
before importing torch. --threads defaults to $OMP_NUM_THREADS, else 1.
"""
import argparse
import json
import os
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cell", choices=["lstm", "gru"], required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--time", type=int, required=True)
    p.add_argument("--input", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    p.add_argument("--thread-mode", choices=["blas", "both"], default="blas")
    p.add_argument("--train", action="store_true", help="time a training step (see above)")
    a = p.parse_args()
    for k in ("batch", "time", "input", "hidden", "iters", "threads"):
        if getattr(a, k) <= 0:
            p.error("--%s must be positive" % k)
    if a.warmup < 0:
        p.error("--warmup must be >= 0")
    return a


def percentile(sorted_xs, q):
    # Linear interpolation between closest ranks (numpy's default), as onednn_rnn.cpp does.
    pos = q * (len(sorted_xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    frac = pos - lo
    return sorted_xs[lo] * (1 - frac) + sorted_xs[hi] * frac


def main():
    a = parse()
    aten = 1 if a.thread_mode == "blas" else a.threads
    # Must happen before torch (and with it OpenBLAS and libgomp) is loaded.
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(aten)
    os.environ["MKL_NUM_THREADS"] = str(aten)
    import torch

    torch.set_num_threads(aten)
    torch.manual_seed(0)
    B, T, I, H = a.batch, a.time, a.input, a.hidden
    G = 4 if a.cell == "lstm" else 3
    layer = (torch.nn.LSTM if a.cell == "lstm" else torch.nn.GRU)(
        I, H, num_layers=1, batch_first=False, bidirectional=False).float()
    x = torch.randn(T, B, I, dtype=torch.float32)

    if a.train:
        layer.train()
        target = torch.randn(T, B, H, dtype=torch.float32)
        opt = torch.optim.SGD(layer.parameters(), lr=0.001)
        loss_fn = torch.nn.MSELoss()

        def step():
            y, _ = layer(x)
            loss = loss_fn(y, target)
            loss.backward()
            opt.step()
            opt.zero_grad()
            return loss.detach()

        for _ in range(a.warmup):
            out = step()
        ms = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            out = step()
            t1 = time.perf_counter()
            ms.append((t1 - t0) * 1e3)
    else:
        layer.eval()
        with torch.no_grad():
            for _ in range(a.warmup):
                out, _ = layer(x)
            ms = []
            for _ in range(a.iters):
                t0 = time.perf_counter()
                out, _ = layer(x)
                t1 = time.perf_counter()
                ms.append((t1 - t0) * 1e3)
    if not torch.isfinite(out).all():
        print("torch_rnn.py: output is not finite", file=sys.stderr)
        return 1
    ms.sort()
    med = percentile(ms, 0.5)
    flops = (3.0 if a.train else 1.0) * 2.0 * B * T * G * H * (I + H)
    print(json.dumps({"median_ms": med, "p10_ms": percentile(ms, 0.1),
                      "p90_ms": percentile(ms, 0.9), "gflops": flops / (med * 1e-3) / 1e9}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
