#!/usr/bin/python3
"""A PyTorch network's weights in loom: an embedding, a GRU and a linear layer, converted with
loom.convert.from_torch and run by the loom model that declares the same layers.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/torch_to_loom.py

With PyTorch installed (Debian: python3-torch) the network is built and run here; without it,
its state dict and outputs are read from the committed fixture
python/tests/fixtures/torch/gru_embedding.*.npz (what gen_torch_fixtures.py saved).
"""
import os

import numpy as np

import loom

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "python", "tests", "fixtures", "torch", "gru_embedding")

LOOM_MODEL = """
model classifier(x: i32[B, T]) -> (y: f32[B, 2]) {
  e = embedding(x, 10, 4)
  h = gru(e, 6)
  y = dense(h, 2)
}
"""


def pytorch_side():
    """(state dict or module, token ids, PyTorch's outputs)"""
    try:
        import torch
        from torch import nn
    except ImportError:
        print("PyTorch is not installed: using the fixture's state dict and outputs")
        return (dict(np.load(FIXTURE + ".state.npz")), np.load(FIXTURE + ".inputs.npz")["x"],
                np.load(FIXTURE + ".expected.npz")["y"])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.gru = nn.GRU(4, 6, batch_first=True)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(self.gru(self.emb(x))[0][:, -1])

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randint(0, 10, (4, 6))
    with torch.no_grad():
        return net, x.numpy().astype(np.int32), net(x).numpy()


def main():
    net, x, want = pytorch_side()
    m = loom.Model.from_source(LOOM_MODEL, name="classifier.loom")
    m.set_weights(loom.convert.from_torch(net, m))
    y = m(x=x)
    err = float(np.max(np.abs(y - want)))
    print("loom:   ", np.round(y, 5).tolist())
    print("PyTorch:", np.round(want, 5).tolist())
    print(f"largest difference {err:.2e}")
    if err > 1e-5:
        raise SystemExit("loom and PyTorch disagree")


if __name__ == "__main__":
    main()
