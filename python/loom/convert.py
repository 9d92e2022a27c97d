"""Weights from PyTorch and Keras into loom's layout (Keras's): `<binding>/<param>` -> array.

    w = loom.convert.from_torch(net, m)              # an nn.Module or its state_dict
    w = loom.convert.from_keras_h5("m.weights.h5", m)
    m.set_weights(w)

Layers are paired in order: the model's layers with weights, in declaration order, with the
source's (PyTorch: modules in state_dict order, a multi-layer nn.LSTM/GRU/RNN counting one
layer per level; Keras 2 .h5: its layer_names order). A Keras 3 .weights.h5 does not keep
the order, so its layers are paired by name, then by their weights' shapes. `mapping`
({loom binding: source layer}) pairs layers explicitly. Kinds and shapes are checked: a
mismatch is a loom.Error naming both sides.
"""
import collections
import os
import re

import numpy as np

from ._loom import Error

# ----- loom's side -----------------------------------------------------------------------


class _Layer:
    """A loom layer with weights: binding, kind, and its params {name: shape} (per direction
    for a bidirectional layer)."""

    def __init__(self, binding):
        self.binding = binding
        self.params = collections.OrderedDict()  # "forward/kernel" or "kernel" -> shape

    @property
    def bidirectional(self):
        return any(k.startswith("forward/") for k in self.params)

    def cell(self):
        """The params of one direction (the forward one)."""
        if self.bidirectional:
            return {k[len("forward/"):]: s for k, s in self.params.items()
                    if k.startswith("forward/")}
        return dict(self.params)

    @property
    def kind(self):
        p = self.cell()
        if "embeddings" in p:
            return "embedding"
        if "moving_mean" in p:
            return "batch_norm"
        if "recurrent_kernel" in p:
            gates = p["recurrent_kernel"][1] // p["recurrent_kernel"][0]
            kind = {4: "lstm", 3: "gru", 1: "simple_rnn"}.get(gates, "rnn")
            if kind == "gru" and "bias" in p and len(p["bias"]) == 1:
                kind = "gru_v1"
            return kind
        if "kernel" in p and len(p["kernel"]) == 3:
            return "conv1d"
        if "kernel" in p:
            return "dense"
        return "layer"

    def describe(self):
        return (f"'{self.binding}' ({'bidirectional ' if self.bidirectional else ''}{self.kind}"
                f", {', '.join(f'{k} {list(s)}' for k, s in self.params.items())})")


def _layers(model):
    from ._model import Model
    if isinstance(model, (str, os.PathLike)):
        model = Model.from_file(model)
    layers = collections.OrderedDict()
    for spec in model.weight_specs:
        binding, param = spec.name.split("/", 1)
        layers.setdefault(binding, _Layer(binding)).params[param] = tuple(spec.shape)
    return list(layers.values())


def _fit(out, key, value, want, source):
    value = np.asarray(value, dtype=np.float32)
    if value.shape != tuple(want):
        raise Error(f"{source} gives '{key}' the shape {list(value.shape)}, but the model "
                    f"needs {list(want)}")
    out[key] = np.ascontiguousarray(value)


# ----- PyTorch ---------------------------------------------------------------------------

_RNN_PARAM = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def _numpy(v):
    if hasattr(v, "detach"):  # a torch.Tensor, without importing torch here
        v = v.detach().cpu().numpy()
    return np.asarray(v)


def _torch_units(state):
    """The source's layers in order: (name, kind, params); an RNN module level is one unit,
    its params keyed "weight_ih" ... with "_reverse" for the backward direction."""
    units = collections.OrderedDict()
    for key, value in state.items():
        prefix, _, param = key.rpartition(".")
        m = _RNN_PARAM.match(param)
        if m:
            name = f"{prefix}[layer {m.group(2)}]" if prefix else f"layer {m.group(2)}"
            unit = units.setdefault(name, {"kind": "rnn", "params": {}})
            unit["params"][m.group(1) + (m.group(3) or "")] = _numpy(value)
        elif param == "num_batches_tracked":
            continue
        else:
            unit = units.setdefault(prefix, {"kind": "module", "params": {}})
            unit["params"][param] = _numpy(value)
    return [(n, u["params"]) for n, u in units.items()]


def _torch_kind(params):
    if "weight_ih" in params:
        return "rnn"
    if "running_mean" in params:
        return "batch_norm"
    w = params.get("weight")
    if w is not None and w.ndim == 3:
        return "conv1d"
    return "linear"  # or an embedding: decided by the loom layer it is paired with


def _gru_order(a, u):
    """PyTorch's GRU gate blocks (r, z, n) as Keras's (z, r, h), along axis 0."""
    return np.concatenate([a[u:2 * u], a[:u], a[2 * u:]], axis=0)


def _torch_rnn(layer, name, p, out):
    kind = layer.kind
    if kind == "gru_v1":
        raise Error(f"loom layer {layer.describe()} is a GRU with reset_after=false; PyTorch's "
                    f"nn.GRU applies the reset gate after the recurrent product, which is "
                    f"loom's gru (bias [2, 3U])")
    if kind not in ("lstm", "gru", "simple_rnn"):
        raise Error(f"loom layer {layer.describe()} is not a recurrent layer, but PyTorch's "
                    f"'{name}' is")
    reverse = any(k.endswith("_reverse") for k in p)
    if reverse != layer.bidirectional:
        raise Error(f"PyTorch's '{name}' is {'' if reverse else 'not '}bidirectional but loom "
                    f"layer {layer.describe()} is {'' if layer.bidirectional else 'not'}")
    for direction, suffix in ([("forward/", ""), ("backward/", "_reverse")]
                              if reverse else [("", "")]):
        cell = {k[len(direction):]: s for k, s in layer.params.items() if k.startswith(direction)}
        w_ih, w_hh = p.get("weight_ih" + suffix), p.get("weight_hh" + suffix)
        if w_ih is None or w_hh is None:
            raise Error(f"PyTorch's '{name}' lacks weight_ih/weight_hh{suffix}")
        u = w_hh.shape[1]
        gates = w_hh.shape[0] // max(u, 1)
        want_gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind]
        if gates != want_gates:
            torch_kind = {4: "nn.LSTM", 3: "nn.GRU", 1: "nn.RNN"}.get(gates, "an RNN")
            raise Error(f"PyTorch's '{name}' is {torch_kind} with {u} units but loom layer "
                        f"{layer.describe()} is a {kind}")
        b_ih, b_hh = p.get("bias_ih" + suffix), p.get("bias_hh" + suffix)
        if b_ih is None:
            b_ih = np.zeros(gates * u, np.float32)
            b_hh = np.zeros(gates * u, np.float32)
        src = f"PyTorch's '{name}'"
        if kind == "gru":
            _fit(out, f"{layer.binding}/{direction}kernel", _gru_order(w_ih, u).T,
                 cell["kernel"], src)
            _fit(out, f"{layer.binding}/{direction}recurrent_kernel", _gru_order(w_hh, u).T,
                 cell["recurrent_kernel"], src)
            bias = np.stack([_gru_order(b_ih, u), _gru_order(b_hh, u)])
        else:  # LSTM's gates are (i, f, g, o) in both; the two biases are one in Keras
            _fit(out, f"{layer.binding}/{direction}kernel", w_ih.T, cell["kernel"], src)
            _fit(out, f"{layer.binding}/{direction}recurrent_kernel", w_hh.T,
                 cell["recurrent_kernel"], src)
            bias = b_ih.astype(np.float64) + b_hh.astype(np.float64)
        if "bias" in cell:
            _fit(out, f"{layer.binding}/{direction}bias", bias, cell["bias"], src)
        elif np.any(bias != 0):
            raise Error(f"PyTorch's '{name}' has biases but loom layer {layer.describe()} has "
                        f"none (use_bias=false)")


def _torch_module(layer, name, p, out):
    kind, src = layer.kind, f"PyTorch's '{name}'"
    b = layer.binding
    if kind == "embedding":
        _fit(out, f"{b}/embeddings", p["weight"], layer.params["embeddings"], src)
    elif kind == "dense":
        _fit(out, f"{b}/kernel", np.asarray(p["weight"]).T, layer.params["kernel"], src)
    elif kind == "conv1d":  # [out, in, k] -> [k, in, out]
        _fit(out, f"{b}/kernel", np.asarray(p["weight"]).transpose(2, 1, 0),
             layer.params["kernel"], src)
    elif kind == "batch_norm":
        names = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                 "moving_variance": "running_var"}
        for k, t in names.items():
            if k in layer.params:
                if t not in p:
                    raise Error(f"{src} has no '{t}' for loom's '{b}/{k}'")
                _fit(out, f"{b}/{k}", p[t], layer.params[k], src)
        return
    else:
        raise Error(f"loom layer {layer.describe()} has no PyTorch counterpart")
    if "bias" in layer.params:
        if "bias" not in p:
            raise Error(f"{src} has no bias but loom layer {layer.describe()} has one")
        _fit(out, f"{b}/bias", p["bias"], layer.params["bias"], src)
    elif "bias" in p and p["bias"] is not None and np.any(np.asarray(p["bias"]) != 0):
        raise Error(f"{src} has a bias but loom layer {layer.describe()} has none")


_KINDS = {"rnn": ("lstm", "gru", "gru_v1", "simple_rnn"), "batch_norm": ("batch_norm",),
          "conv1d": ("conv1d",), "linear": ("dense", "embedding")}


def from_torch(source, model, mapping=None):
    """loom weights from a PyTorch module or state_dict (torch tensors or numpy arrays):
    nn.LSTM, nn.GRU, nn.RNN (any num_layers, bidirectional, with or without biases),
    nn.Linear, nn.Embedding, nn.Conv1d, nn.BatchNorm1d. `model` is a loom.Model or a .loom
    path; `mapping` optionally pairs loom bindings with PyTorch module names
    ("rnn[layer 1]" for a level of a multi-layer RNN). Returns {key: float32 array}."""
    state = source.state_dict() if hasattr(source, "state_dict") else source
    if not hasattr(state, "items"):
        raise Error(f"from_torch: expected an nn.Module or a state_dict, got "
                    f"{type(source).__name__}")
    units = _torch_units(state)
    layers = _layers(model)
    pairs = _pair(layers, units, mapping, "PyTorch", lambda u: _torch_kind(u[1]))
    out = {}
    for layer, (name, params) in pairs:
        if _torch_kind(params) == "rnn":
            _torch_rnn(layer, name, params, out)
        else:
            _torch_module(layer, name, params, out)
    return out


def _pair(layers, units, mapping, what, kind_of):
    """[(loom layer, source unit)], by `mapping` or in order, kinds checked."""
    names = [u[0] for u in units]
    if mapping:
        by_name = dict((u[0], u) for u in units)
        pairs = []
        for layer in layers:
            if layer.binding not in mapping:
                raise Error(f"mapping has no entry for loom layer '{layer.binding}'")
            src = mapping[layer.binding]
            if src not in by_name:
                raise Error(f"mapping: {what} has no layer '{src}' (it has {', '.join(names)})")
            pairs.append((layer, by_name[src]))
    else:
        if len(layers) != len(units):
            raise Error(f"the loom model has {len(layers)} layers with weights "
                        f"({', '.join(l.binding for l in layers)}) but {what} has "
                        f"{len(units)} ({', '.join(names)}); pass mapping= to pair them")
        pairs = list(zip(layers, units))
    for layer, unit in pairs:
        if kind_of(unit) is not None and layer.kind not in _KINDS.get(kind_of(unit), ()):
            raise Error(f"loom layer {layer.describe()} is paired with {what}'s '{unit[0]}', "
                        f"a {kind_of(unit)}")
    return pairs


# ----- Keras .h5 --------------------------------------------------------------------------

# Keras 3 stores a layer's variables by index, in the order the layer creates them.
_KERAS_ORDER = {
    "dense": ["kernel", "bias"], "conv1d": ["kernel", "bias"], "embedding": ["embeddings"],
    "batch_norm": ["gamma", "beta", "moving_mean", "moving_variance"],
    "lstm": ["kernel", "recurrent_kernel", "bias"], "gru": ["kernel", "recurrent_kernel", "bias"],
    "gru_v1": ["kernel", "recurrent_kernel", "bias"],
    "simple_rnn": ["kernel", "recurrent_kernel", "bias"],
}


def _keras2_units(f):
    """Keras 2 (model.save_weights / model.save .h5): [(layer, {param: array})] in order."""
    root = f["model_weights"] if "model_weights" in f else f
    units = []
    for lname in root.attrs["layer_names"]:
        lname = lname.decode() if isinstance(lname, bytes) else str(lname)
        g = root[lname]
        params = collections.OrderedDict()
        for wname in g.attrs.get("weight_names", []):
            wname = wname.decode() if isinstance(wname, bytes) else str(wname)
            parts = wname.split(":")[0].split("/")
            key = parts[-1]
            if any(p.startswith("forward") for p in parts[:-1]):
                key = "forward/" + key
            elif any(p.startswith("backward") for p in parts[:-1]):
                key = "backward/" + key
            params[key] = np.asarray(g[wname])
        if params:
            units.append((lname, params))
    return units


def _keras3_vars(g):
    """The arrays of a Keras 3 layer group: its vars/ (and its cell's, its directions')."""
    found = collections.OrderedDict()

    def walk(group, path):
        if "vars" in group and len(group["vars"]):  # an RNN layer's own vars are empty
            v = group["vars"]
            found[tuple(path)] = [np.asarray(v[str(i)]) for i in range(len(v))]
        for k in group:
            if k != "vars" and hasattr(group[k], "keys"):
                walk(group[k], path + [k])

    walk(g, [])
    return found


def _keras3_units(f):
    units = []
    layers = f["layers"] if "layers" in f else f
    for lname in layers:
        found = _keras3_vars(layers[lname])
        if any(found.values()):
            units.append((lname, found))
    return units


def _keras3_params(layer, name, found):
    """A Keras 3 layer's variables by loom param name, checked against `layer`."""
    order = _KERAS_ORDER.get(layer.kind)
    if order is None:
        raise Error(f"loom layer {layer.describe()} has no Keras counterpart")
    params = {}
    for path, values in found.items():
        direction = ""
        if any(p.startswith("forward") for p in path):
            direction = "forward/"
        elif any(p.startswith("backward") for p in path):
            direction = "backward/"
        names = [n for n in order if direction + n in layer.params]
        if len(values) != len(names):
            raise Error(f"Keras layer '{name}' has {len(values)} variables in "
                        f"{'/'.join(list(path) + ['vars'])}, but loom layer {layer.describe()} "
                        f"needs {len(names)} there")
        for n, v in zip(names, values):
            params[direction + n] = v
    return params


def _shapes(params):
    return sorted(tuple(np.shape(v)) for v in params.values())


def from_keras_h5(path, model, mapping=None):
    """loom weights from a Keras 2 .h5 (save_weights or a whole saved model) or a Keras 3
    .weights.h5, read with h5py. Returns {key: float32 array}."""
    try:
        import h5py
    except ImportError as e:
        raise Error(f"from_keras_h5 needs h5py (Debian: python3-h5py): {e}") from None
    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Error(f"{path}: cannot read it as HDF5: {e}") from None
    with f:
        layers = _layers(model)
        keras2 = "layer_names" in f.attrs or ("model_weights" in f and
                                               "layer_names" in f["model_weights"].attrs)
        if keras2:
            units = _keras2_units(f)
            pairs = _pair(layers, units, mapping, path, lambda u: None)
        else:
            raw = _keras3_units(f)
            if not raw and "layers" not in f:
                raise Error(f"{path}: not a Keras weights file (no 'layer_names' attribute, "
                            f"no 'layers' group)")
            pairs = _pair_keras3(layers, raw, mapping, path)
        out = {}
        for layer, (name, params) in pairs:
            if not keras2:
                params = _keras3_params(layer, name, params)
            for k, want in layer.params.items():
                if k not in params:
                    raise Error(f"{path}: Keras layer '{name}' has no '{k}' for loom layer "
                                f"{layer.describe()} (it has {', '.join(params)})")
                _fit(out, f"{layer.binding}/{k}", params[k], want,
                     f"{path}: Keras layer '{name}'")
            extra = set(params) - set(layer.params)
            if extra:
                raise Error(f"{path}: Keras layer '{name}' has {', '.join(sorted(extra))}, "
                            f"which loom layer {layer.describe()} does not")
        return out


def _pair_keras3(layers, units, mapping, path):
    """Keras 3 files keep layers by name, not in order: by mapping, by equal names, then by
    the one source layer whose weight shapes are the loom layer's."""
    if mapping:
        return _pair(layers, units, mapping, path, lambda u: None)
    pairs, free = [], dict(units)
    for layer in layers:
        if layer.binding in free:
            pairs.append((layer, (layer.binding, free.pop(layer.binding))))
            continue
        want = sorted(tuple(s) for s in layer.params.values())
        fits = [n for n, found in free.items()
                if sorted(tuple(np.shape(v)) for vs in found.values() for v in vs) == want]
        if len(fits) != 1:
            raise Error(f"{path}: {'no' if not fits else 'more than one'} Keras layer "
                        f"({', '.join(fits) or ', '.join(free) or 'none left'}) has the weight "
                        f"shapes of loom layer {layer.describe()}; pass mapping= "
                        f"{{'{layer.binding}': '<keras layer name>'}}")
        pairs.append((layer, (fits[0], free.pop(fits[0]))))
    if free:
        raise Error(f"{path}: Keras layers {', '.join(free)} have no loom layer")
    return pairs
