#!/usr/bin/python3
"""The same two forecasters, data, optimizer and epochs in PyTorch (for the comparison in
README.md; needs Debian's python3-torch, which loom does not).

stacked (stacked.loom): LSTM(64) over the 52 weeks (all steps) -> LSTM(64) -> its last
state -> Linear(7).
seq2seq (seq2seq.loom): LSTM(64) -> its last state repeated 7 times -> LSTM(64) over them
-> Linear(1) on each step. Both: MSE, Adam with learning rate 0.001, each gradient clipped to norm 1 on its
own (Keras's clipnorm), batches of 32 in a shuffled order, 40 epochs; test MAE in ppm.
PyTorch's default initialisers (not Keras's).

Usage: /usr/bin/python3 torch_forecast.py --data-dir DIR [--model stacked|seq2seq]
                                          [--epochs 40] [--threads 2]
"""
import argparse
import os
import time

import numpy as np
import torch
from torch import nn


class Stacked(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.LSTM(1, 64, batch_first=True)
        self.l2 = nn.LSTM(64, 64, batch_first=True)
        self.out = nn.Linear(64, 7)

    def forward(self, x):
        s, _ = self.l1(x)
        _, (h, _) = self.l2(s)
        return self.out(h[0])


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.LSTM(1, 64, batch_first=True)
        self.dec = nn.LSTM(64, 64, batch_first=True)
        self.out = nn.Linear(64, 1)

    def forward(self, x):
        _, (h, _) = self.enc(x)
        d, _ = self.dec(h[0][:, None, :].expand(-1, 7, -1))
        return self.out(d)[:, :, 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=".")
    ap.add_argument("--model", default="stacked", choices=["stacked", "seq2seq"])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    load = lambda s: np.load(os.path.join(args.data_dir, s + ".npz"))
    tr, te = load("train"), load("test")
    x, y = torch.from_numpy(tr["x"]), torch.from_numpy(tr["t"])
    net = Stacked() if args.model == "stacked" else Seq2Seq()
    opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7)
    rng = np.random.default_rng(1)
    total_time = 0.0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        tot = 0.0
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            loss = ((net(x[idx]) - y[idx]) ** 2).mean()
            loss.backward()
            for p in net.parameters():
                torch.nn.utils.clip_grad_norm_([p], 1.0)
            opt.step()
            tot += float(loss) * len(idx)
        dt = time.perf_counter() - t0
        total_time += dt
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: loss {tot / len(x):.4f}, {len(x) / dt:.0f} samples/s",
                  flush=True)
    with torch.no_grad():
        mae = float((net(torch.from_numpy(te["x"])) - torch.from_numpy(te["t"])).abs().mean())
    print(f"pytorch {args.model}: {args.epochs} epochs in {total_time:.1f} s "
          f"({args.epochs * len(x) / total_time:.0f} samples/s), test MAE {mae:.4f} ppm")


if __name__ == "__main__":
    main()
