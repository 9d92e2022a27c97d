#!/usr/bin/python3
"""The same sketch classifier, data, optimizer and epochs in PyTorch (for the speed and
accuracy comparison in README.md; needs Debian's python3-torch, which loom does not).

Same as sketch.loom: Conv1d(32, 5, stride 2) + ReLU + BatchNorm1d, Conv1d(64, 5, 2), Conv1d(128,
3, 2), each with BatchNorm (eps 1e-3, Keras momentum 0.99 = PyTorch momentum 0.01), two LSTMs
of 128, a linear layer; SGD momentum 0.9, learning rate 0.01 with cosine decay over 7500
steps, each gradient clipped to norm 1 on its own (Keras's clipnorm), batches of 32 in a
shuffled order, 20 epochs. PyTorch's default initialisers (not Keras's).

Usage: /usr/bin/python3 torch_sketch.py --data-dir DIR [--epochs 20] [--threads 2]
"""
import argparse
import math
import os
import time

import numpy as np
import torch
from torch import nn


class Sketch(nn.Module):
    def __init__(self, classes=12):
        super().__init__()
        def block(i, o, k):
            return [nn.Conv1d(i, o, k, stride=2), nn.ReLU(), nn.BatchNorm1d(o, eps=1e-3,
                                                                            momentum=0.01)]
        self.conv = nn.Sequential(*block(3, 32, 5), *block(32, 64, 5), *block(64, 128, 3))
        self.lstm1 = nn.LSTM(128, 128, batch_first=True)
        self.lstm2 = nn.LSTM(128, 128, batch_first=True)
        self.out = nn.Linear(128, classes)

    def forward(self, x):                       # x [B, T, 3] -> logits [B, classes]
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        h, _ = self.lstm1(h)
        _, (h, _) = self.lstm2(h)
        return self.out(h[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=".")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    load = lambda s: np.load(os.path.join(args.data_dir, s + ".npz"))
    tr, te = load("train"), load("test")
    x, y = torch.from_numpy(tr["x"]), torch.from_numpy(tr["label"]).long()
    net = Sketch()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    step, total_time = 0, 0.0
    for epoch in range(args.epochs):
        net.train()
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        tot = 0.0
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            for g in opt.param_groups:
                g["lr"] = 0.01 * 0.5 * (1 + math.cos(math.pi * min(step, 7500) / 7500))
            opt.zero_grad()
            loss = lossf(net(x[idx]), y[idx])
            loss.backward()
            for p in net.parameters():
                torch.nn.utils.clip_grad_norm_([p], 1.0)
            opt.step()
            step += 1
            tot += float(loss) * len(idx)
        dt = time.perf_counter() - t0
        total_time += dt
        print(f"epoch {epoch + 1}: loss {tot / len(x):.4f}, {len(x) / dt:.0f} samples/s",
              flush=True)
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(te["x"])).argmax(1).numpy()
    print(f"pytorch: {args.epochs} epochs in {total_time:.1f} s "
          f"({args.epochs * len(x) / total_time:.0f} samples/s), "
          f"test accuracy {(pred == te['label']).mean():.4f}")


if __name__ == "__main__":
    main()
