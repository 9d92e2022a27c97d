"""`python3 -m loom convert ...` and `python3 -m loom plot-history ...`: the parts of the loom
tool written in Python (the tool's `loom convert` and `loom plot-history` run these)."""
import argparse
import csv
import os
import sys

import numpy as np

from . import convert
from ._loom import Error, save_npz
from ._model import Model
from ._plot import plot_history


def _torch_state(path):
    if path.endswith(".npz"):
        return dict(np.load(path))
    try:
        import torch
    except ImportError:
        raise Error(f"{path}: reading a PyTorch file needs PyTorch (Debian: python3-torch); "
                    f"or save the state dict as .npz: np.savez(p, **{{k: v.numpy() for k, v "
                    f"in net.state_dict().items()}})") from None
    obj = torch.load(path, map_location="cpu")
    return obj.state_dict() if hasattr(obj, "state_dict") else obj


def cmd_convert(a):
    model = Model.from_file(a.model, model=a.model_name)
    if not os.path.exists(a.input):
        raise Error(f"cannot read '{a.input}'")
    mapping = dict(kv.split("=", 1) for kv in a.map) if a.map else None
    if a.source == "torch":
        w = convert.from_torch(_torch_state(a.input), model, mapping=mapping)
    else:
        w = convert.from_keras_h5(a.input, model, mapping=mapping)
    model.set_weights(w)  # every shape checked again, as loom run would
    save_npz(a.output, w)
    print(f"converted {len(w)} weights of {a.input} for model {model.name}, wrote {a.output}")


def cmd_plot_history(a):
    try:
        with open(a.history, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise Error(f"cannot read '{a.history}': {e.strerror}") from None
    if not rows:
        raise Error(f"{a.history}: no epochs in it")
    history = {}
    for i, row in enumerate(rows):
        for k, v in row.items():
            if k == "epoch":
                continue
            try:
                history.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                raise Error(f"{a.history}:{i + 2}: column '{k}' holds {v!r}, not a number") \
                    from None
    plot_history(history, a.output, keys=a.keys.split(",") if a.keys else None)
    print(f"wrote {a.output}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="loom")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="PyTorch or Keras weights -> loom .npz")
    c.add_argument("--from", dest="source", required=True, choices=["torch", "keras-h5"])
    c.add_argument("input", help="state dict (.pt/.pth, or .npz of its arrays) or Keras .h5")
    c.add_argument("--model", required=True, help="the loom model (.loom)")
    c.add_argument("--model-name", default=None, help="which model of the file")
    c.add_argument("--map", action="append", help="BINDING=SOURCE_LAYER, to pair layers")
    c.add_argument("-o", "--output", required=True)
    p = sub.add_parser("plot-history", help="training curves from a history CSV")
    p.add_argument("history", help="loom train --history, or CSVLogger's file")
    p.add_argument("-o", "--output", required=True, help="image file (.png, .pdf, .svg)")
    p.add_argument("--keys", default=None, help="which quantities, comma-separated")
    a = ap.parse_args(argv)
    try:
        (cmd_convert if a.cmd == "convert" else cmd_plot_history)(a)
    except Error as e:
        msg = str(e)
        print(msg if ": error: " in msg else f"loom: error: {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
