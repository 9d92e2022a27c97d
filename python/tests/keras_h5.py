"""Writes Keras weight files without TensorFlow: the group layout of Keras 2's
save_weights .h5 and of Keras 3's .weights.h5, filled from loom (Keras-layout) weights.
test_convert.py writes the layers3 fixtures' weights this way and reads them back with
loom.convert.from_keras_h5. As a script: keras_h5.py MODEL.loom WEIGHTS.npz OUT.h5 [--keras3]
"""
import sys

import h5py
import numpy as np

import loom
from loom.convert import _KERAS_ORDER, _layers

_CLASS = {"dense": "dense", "lstm": "lstm", "gru": "gru", "gru_v1": "gru",
          "simple_rnn": "simple_rnn", "conv1d": "conv1d", "embedding": "embedding",
          "batch_norm": "batch_normalization"}


def keras_names(layers):
    """Keras's automatic names, in order: dense, dense_1, lstm, bidirectional, ..."""
    seen, names = {}, []
    for l in layers:
        base = "bidirectional" if l.bidirectional else _CLASS[l.kind]
        n = seen.get(base, 0)
        seen[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n}")
    return names


def write_keras2(path, model, weights):
    layers = _layers(model)
    names = keras_names(layers)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for l, name in zip(layers, names):
            g = f.create_group(name)
            wnames = []
            cls = _CLASS[l.kind]
            for key in l.params:
                if key.startswith(("forward/", "backward/")):
                    d, p = key.split("/")
                    wname = f"{name}/{d}_{cls}/{cls}_cell/{p}:0"
                elif l.kind in ("lstm", "gru", "gru_v1", "simple_rnn"):
                    wname = f"{name}/{cls}_cell/{key}:0"
                else:
                    wname = f"{name}/{key}:0"
                g.create_dataset(wname, data=weights[f"{l.binding}/{key}"])
                wnames.append(wname.encode())
            g.attrs["weight_names"] = np.array(wnames)


def write_keras3(path, model, weights):
    layers = _layers(model)
    names = keras_names(layers)
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        top = f.create_group("layers")
        top.create_group("dropout").create_group("vars")  # a layer without weights
        for l, name in zip(layers, names):
            g = top.create_group(name)
            rnn = l.kind in ("lstm", "gru", "gru_v1", "simple_rnn")
            dirs = [("forward/", "forward_layer"), ("backward/", "backward_layer")] \
                if l.bidirectional else [("", None)]
            for prefix, sub in dirs:
                h = g.create_group(sub) if sub else g
                if rnn:
                    h.create_group("vars")
                    h = h.create_group("cell")
                v = h.create_group("vars")
                order = [p for p in _KERAS_ORDER[l.kind] if prefix + p in l.params]
                for i, p in enumerate(order):
                    v.create_dataset(str(i), data=weights[f"{l.binding}/{prefix}{p}"])


if __name__ == "__main__":
    m = loom.Model.from_file(sys.argv[1])
    w = dict(np.load(sys.argv[2]))
    (write_keras3 if "--keras3" in sys.argv else write_keras2)(sys.argv[3], m, w)
