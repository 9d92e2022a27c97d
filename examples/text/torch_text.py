#!/usr/bin/python3
"""The same fortunes classifier, data, optimizer and epochs in PyTorch (for the comparison
in README.md; needs Debian's python3-torch, which loom does not).

Same as text.loom: Embedding(4791, 64) (id 0 = padding, masked by packing the sequences to
their lengths, as mask_zero does), a bidirectional GRU of 64 per direction whose two final
states are concatenated, a linear layer; Adam with learning rate 0.002, each gradient
clipped to norm 1 on its own (Keras's clipnorm), batches of 32 in a shuffled order, 10
epochs. PyTorch's default initialisers (not Keras's).

Usage: /usr/bin/python3 torch_text.py --data-dir DIR [--epochs 10] [--threads 2]
"""
import argparse
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class Fortunes(nn.Module):
    def __init__(self, vocab=4791, classes=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, 64, padding_idx=0)
        self.gru = nn.GRU(64, 64, batch_first=True, bidirectional=True)
        self.out = nn.Linear(128, classes)

    def forward(self, x):
        lengths = (x > 0).sum(1).clamp(min=1)
        packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True,
                                      enforce_sorted=False)
        _, h = self.gru(packed)                    # h [2, B, 64]: forward, backward
        return self.out(torch.cat([h[0], h[1]], 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=".")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    load = lambda s: np.load(os.path.join(args.data_dir, s + ".npz"))
    tr, te = load("train"), load("test")
    x, y = torch.from_numpy(tr["x"]).long(), torch.from_numpy(tr["label"]).long()
    net = Fortunes(vocab=1 + int(max(tr["x"].max(), te["x"].max())))
    opt = torch.optim.Adam(net.parameters(), lr=0.002, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    total_time = 0.0
    for epoch in range(args.epochs):
        net.train()
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        tot = 0.0
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            loss = lossf(net(x[idx]), y[idx])
            loss.backward()
            for p in net.parameters():
                torch.nn.utils.clip_grad_norm_([p], 1.0)
            opt.step()
            tot += float(loss) * len(idx)
        dt = time.perf_counter() - t0
        total_time += dt
        print(f"epoch {epoch + 1}: loss {tot / len(x):.4f}, {len(x) / dt:.0f} samples/s",
              flush=True)
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(te["x"]).long()).argmax(1).numpy()
    print(f"pytorch: {args.epochs} epochs in {total_time:.1f} s "
          f"({args.epochs * len(x) / total_time:.0f} samples/s), "
          f"test accuracy {(pred == te['label']).mean():.4f}")


if __name__ == "__main__":
    main()
