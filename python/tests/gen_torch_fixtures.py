#!/usr/bin/python3
"""Writes the PyTorch conversion fixtures (python/tests/fixtures/torch/): for each case a
PyTorch network with random weights, the loom model that computes the same function, and

    <case>.loom          the loom model
    <case>.state.npz     the network's state_dict as numpy arrays (PyTorch's names and layout)
    <case>.inputs.npz    the loom model's inputs (channels last)
    <case>.expected.npz  PyTorch's float32 forward pass, under the loom output names

test_convert.py converts the state dict with loom.convert.from_torch and requires loom's
outputs within 1e-5 of PyTorch's, so CI needs no PyTorch.
Run with Debian's PyTorch (python3-torch): /usr/bin/python3 python/tests/gen_torch_fixtures.py
"""
import os

import numpy as np
import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch")


class LstmTagger(nn.Module):
    """Two bidirectional LSTM levels, then a per-step linear layer."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        return {"y": self.head(self.rnn(x)[0])}


class GruClassifier(nn.Module):
    """Token ids through an embedding, a GRU's last output, a linear layer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return {"y": self.fc(self.gru(self.emb(x))[0][:, -1])}


class RnnNoBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 5, bias=False, batch_first=True)
        self.fc = nn.Linear(5, 2, bias=False)

    def forward(self, x):
        return {"y": self.fc(self.rnn(x)[0])}


class ConvNet(nn.Module):
    """Conv1d (channels first in PyTorch) and BatchNorm1d in inference mode, then a GRU over
    both directions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3)
        self.bn = nn.BatchNorm1d(6, eps=1e-3)
        self.gru = nn.GRU(6, 4, batch_first=True, bidirectional=True)

    def forward(self, x):
        h = self.bn(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return {"y": self.gru(h)[0]}


CASES = {
    "lstm_bidirectional_2_levels": (LstmTagger, "x", (3, 7, 4), """\
model lstm_bidirectional_2_levels(x: f32[B, T, 4]) -> (y: f32[B, T, 3]) {
  h1 = bidirectional(lstm(units=5, return_sequences=true), x)
  h2 = bidirectional(lstm(units=5, return_sequences=true), h1)
  y = dense(h2, 3)
}
"""),
    "gru_embedding": (GruClassifier, "tokens", (4, 6), """\
model gru_embedding(x: i32[B, T]) -> (y: f32[B, 2]) {
  e = embedding(x, 10, 4)
  h = gru(e, 6)
  y = dense(h, 2)
}
"""),
    "rnn_no_bias": (RnnNoBias, "x", (2, 5, 3), """\
model rnn_no_bias(x: f32[B, T, 3]) -> (y: f32[B, T, 2]) {
  h = simple_rnn(x, 5, use_bias=false, return_sequences=true)
  y = dense(h, 2, use_bias=false)
}
"""),
    "conv_batch_norm_bigru": (ConvNet, "x", (2, 9, 3), """\
model conv_batch_norm_bigru(x: f32[B, T, 3]) -> (y) {
  c = conv1d(x, filters=6, kernel_size=3)
  n = batch_norm(c)
  y = bidirectional(gru(units=4, return_sequences=true), n)
}
"""),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(7)
    for name, (cls, kind, shape, text) in CASES.items():
        net = cls().eval()
        with torch.no_grad():
            for p in net.parameters():
                p.uniform_(-0.5, 0.5)
            for m in net.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.running_mean.uniform_(-0.3, 0.3)
                    m.running_var.uniform_(0.5, 1.5)
        if kind == "tokens":
            x = torch.randint(0, 10, shape)
            inputs = {"x": x.numpy().astype(np.int32)}
        else:
            x = torch.rand(shape) * 2 - 1
            inputs = {"x": x.numpy()}
        with torch.no_grad():
            out = {k: v.numpy() for k, v in net(x).items()}
        state = {k: v.numpy() for k, v in net.state_dict().items()}
        with open(os.path.join(OUT, name + ".loom"), "w") as f:
            f.write(text)
        np.savez_compressed(os.path.join(OUT, name + ".state.npz"), **state)
        np.savez_compressed(os.path.join(OUT, name + ".inputs.npz"), **inputs)
        np.savez_compressed(os.path.join(OUT, name + ".expected.npz"), **out)
        print(name, {k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
