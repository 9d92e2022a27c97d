"""loom.Model: a compiled model with its weights; inference, and Keras-style training."""
import collections.abc
import math
import os
from typing import NamedTuple, Tuple, Union

import numpy as np

from . import _loom
from . import callbacks as _callbacks
from ._loom import Error


class TensorSpec(NamedTuple):
    """An input, output or weight: its name, numpy dtype and declared shape, whose symbolic
    dims are strings ("B", "T", or an expression such as "(T - 5) / 2 + 1")."""

    name: str
    dtype: np.dtype
    shape: Tuple[Union[int, str], ...]

    def __repr__(self):
        dims = ",".join(str(d) for d in self.shape)
        return f"TensorSpec({self.name!r}, {self.dtype.name}[{dims}])"


def _specs(infos):
    return [TensorSpec(name, np.dtype(dtype), tuple(shape)) for name, dtype, shape in infos]


def _named(what, specs, value, kwargs):
    """The arrays of `value` (a dict, one array for a single name, or a list in declaration
    order) and of `kwargs`, by name."""
    names = [s.name for s in specs]
    if value is None:
        arrays = {}
    elif isinstance(value, collections.abc.Mapping):
        arrays = dict(value)
    elif (isinstance(value, (list, tuple)) and len(names) == 1 and len(value) == 1
          and isinstance(value[0], np.ndarray)):
        arrays = {names[0]: value[0]}  # Keras's list of one input
    elif isinstance(value, (list, tuple)) and len(names) != 1:
        if len(value) != len(names):
            raise Error(f"{what}: got a list of {len(value)} arrays but the model has "
                        f"{len(names)} ({', '.join(names)}); pass a dict by name")
        arrays = dict(zip(names, value))
    elif len(names) == 1:
        arrays = {names[0]: value}
    else:
        raise Error(f"{what}: the model has {len(names)} ({', '.join(names)}); pass a dict "
                    f"of arrays by name")
    for k, v in kwargs.items():
        if k in arrays:
            raise Error(f"{what}: '{k}' given twice")
        arrays[k] = v
    return arrays


class _Weights(collections.abc.MutableMapping):
    """model.weights: name -> numpy array (a copy); assigning checks dtype and shape."""

    def __init__(self, model):
        self._model = model

    def _keys(self):
        return [s.name for s in self._model.weight_specs]

    def __getitem__(self, key):
        if key not in self._keys():
            raise KeyError(key)
        return self._model._values()[key]

    def __setitem__(self, key, value):
        self._model._set_weight(key, value)

    def __delitem__(self, key):
        raise TypeError("a model's weights cannot be deleted, only replaced")

    def __iter__(self):
        return iter(self._keys())

    def __len__(self):
        return len(self._keys())

    def __repr__(self):
        return "{" + ", ".join(f"{s.name!r}: {s.dtype.name}{list(s.shape)}"
                               for s in self._model.weight_specs) + "}"


class _Optimizer:
    """model.optimizer, as Keras callbacks use it: learning_rate (read and set), iterations."""

    def __init__(self, trainer):
        self._trainer = trainer

    @property
    def name(self):
        return self._trainer.optimizer_name

    @property
    def learning_rate(self):
        return self._trainer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._trainer.learning_rate = float(value)

    @property
    def iterations(self):
        return self._trainer.iterations


class Model:
    """A model compiled to native code, with its weights.

    Inference (`model(x=...)`, `predict`) runs the compiled model; training (`fit`,
    `evaluate`, `train_on_batch`) compiles the file's `train` block the first time it is
    needed, exactly as `loom train` does, and keeps its weights in step with the model's.
    """

    def __init__(self, compiled, path, source, model):
        self._c = compiled
        self._path, self._source, self._model = path, source, model
        self._trainer = None
        # Which side holds the newest weights: "model", "trainer" or "both".
        self._newest = "model"
        self.stop_training = False
        self.history = None

    # ----- Compiling ---------------------------------------------------------------------

    @classmethod
    def from_file(cls, path, model=None, opt_level=3, generate=None):
        """Compiles a .loom file (`model`: which of its models, when it has several).

        `generate`: settings replacing those of the model's generate(...) calls, by their
        names in the model file: {"max_length": 100, "sample": True, "temperature": 0.8,
        "top_k": 20, "top_p": 0.9, "repetition_penalty": 1.2, "end_token": 1}.
        """
        path = os.fspath(path)
        return cls(_loom.Model.from_file(path, model or "", opt_level, generate or {}), path,
                   None, model)

    @classmethod
    def from_source(cls, text, model=None, name="<source>", opt_level=3, generate=None):
        """Compiles model text; errors are reported under `name`."""
        return cls(_loom.Model.from_source(text, model or "", opt_level, name, generate or {}),
                   name, text, model)

    # ----- Signature ---------------------------------------------------------------------

    @property
    def name(self):
        return self._c.name

    @property
    def inputs(self):
        return _specs(self._c.inputs)

    @property
    def outputs(self):
        return _specs(self._c.outputs)

    @property
    def weight_specs(self):
        return _specs(self._c.weights)

    @property
    def signature(self):
        """{"inputs": [TensorSpec...], "outputs": [...], "weights": [...]}"""
        return {"inputs": self.inputs, "outputs": self.outputs, "weights": self.weight_specs}

    def __repr__(self):
        def side(specs):
            return ", ".join(f"{s.name}: {s.dtype.name}[{','.join(map(str, s.shape))}]"
                             for s in specs)
        return f"<loom.Model {self.name}({side(self.inputs)}) -> ({side(self.outputs)})>"

    def graph_dot(self):
        """The compiled IR graph (after loom's passes) as Graphviz dot text."""
        return self._c.graph_dot()

    def plot_graph(self, path):
        """Renders the IR graph with Graphviz's `dot` (Debian: graphviz) into `path`, in the
        format its extension names (.png, .svg, .pdf); returns the path."""
        import shutil
        import subprocess
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        if ext not in ("png", "svg", "pdf", "dot"):
            raise Error(f"plot_graph: {path}: give a .png, .svg, .pdf or .dot path")
        text = self.graph_dot()
        if ext == "dot":
            with open(path, "w") as f:
                f.write(text)
            return path
        dot = shutil.which("dot")
        if dot is None:
            raise Error("plot_graph needs Graphviz's dot program (Debian: graphviz)")
        p = subprocess.run([dot, "-T" + ext, "-o", path], input=text.encode(),
                           capture_output=True)
        if p.returncode != 0:
            raise Error(f"plot_graph: dot failed: {p.stderr.decode().strip()}")
        return path

    # ----- Weights -----------------------------------------------------------------------

    @property
    def weights(self):
        """The weights as a mapping name -> array (copies); `m.weights[k] = a` replaces one."""
        return _Weights(self)

    @weights.setter
    def weights(self, values):
        self.set_weights(values)

    def _values(self):
        self._sync_model()
        return self._c.weight_values()

    def _set_weight(self, key, value):
        self._sync_model()
        self._c.set_weight(key, value)
        self._newest = "model"

    def init_weights(self, seed=1):
        """Keras's default initialisers, drawn from `seed`: the weights `loom init --seed`
        writes."""
        self._c.init_weights(int(seed))
        self._newest = "model"

    def load_weights(self, path):
        """Weights from a numpy .npz with keys "<layer>/<param>", as `loom init` and
        save_weights write them."""
        self._c.load_weights(os.fspath(path))
        self._newest = "model"

    def save_weights(self, path):
        """Writes the weights to a numpy .npz (atomically)."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            raise Error(f"save_weights: {path}: loom writes weights as numpy .npz; give a "
                        f"path ending in .npz")
        _loom.save_npz(path, self._values())

    def get_weights(self):
        """The weights as a list in declaration order (Keras's get_weights)."""
        values = self._values()
        return [values[s.name] for s in self.weight_specs]

    def set_weights(self, weights):
        """All weights: a dict by name, or a list in declaration order (Keras's set_weights)."""
        specs = self.weight_specs
        if not isinstance(weights, collections.abc.Mapping):
            weights = list(weights)
            if len(weights) != len(specs):
                raise Error(f"set_weights: got {len(weights)} arrays but the model has "
                            f"{len(specs)} weights ({', '.join(s.name for s in specs)})")
            weights = {s.name: w for s, w in zip(specs, weights)}
        self._c.set_weights(dict(weights))
        self._newest = "model"

    # ----- Inference ---------------------------------------------------------------------

    def _result(self, outs):
        return next(iter(outs.values())) if len(outs) == 1 else outs

    def __call__(self, inputs=None, **kwargs):
        """Runs the model: one array (a single-input model), a dict or keyword arguments by
        input name. Returns the output array, or a dict by name for several outputs."""
        self._sync_model()
        return self._result(self._c.run(_named("inputs", self.inputs, inputs, kwargs)))

    def predict(self, x, batch_size=None, verbose=0):
        """Runs the model on `x` in batches of `batch_size` rows (default: all at once) and
        joins the outputs along their first axis."""
        arrays = _named("predict", self.inputs, x, {})
        self._sync_model()
        if batch_size is None:
            return self._result(self._c.run(arrays))
        batch_size = _positive("predict: batch_size", batch_size)
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        rows = {k: v.shape[0] for k, v in arrays.items() if v.ndim > 0}
        if len(set(rows.values())) != 1:
            raise Error(f"predict: the inputs must have the same number of rows, got "
                        + ", ".join(f"{k}: {n}" for k, n in rows.items()))
        leading = {s.shape[0] for s in self.inputs if s.shape}
        for s in self.outputs:
            if not s.shape or s.shape[0] not in leading or isinstance(s.shape[0], int):
                raise Error(f"predict: batch_size needs every output's first dim to be the "
                            f"inputs' batch dim; output '{s.name}' is "
                            f"{s.dtype.name}[{','.join(map(str, s.shape))}]")
        n = next(iter(rows.values()))
        parts = [self._c.run({k: v[i:i + batch_size] for k, v in arrays.items()})
                 for i in range(0, n, batch_size)]
        outs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._result(outs)

    # ----- Training ----------------------------------------------------------------------

    def _get_trainer(self):
        if self._trainer is None:
            self._trainer = _loom.Trainer.create(self._path, source=self._source,
                                                 model=self._model or "")
        return self._trainer

    def _sync_model(self):
        if self._newest == "trainer":
            self._c.set_weights(self._trainer.weight_values())
            self._newest = "both"

    def _sync_trainer(self, seed=1):
        """The trainer with the model's weights (drawn from `seed` when it has none, as
        `loom train` without --weights does)."""
        t = self._get_trainer()
        if self._newest == "model":
            if not self._c.has_weights():
                self._c.init_weights(int(seed))
            t.set_weights(self._c.weight_values())
            self._newest = "both"
        return t

    @property
    def optimizer(self):
        return _Optimizer(self._get_trainer())

    @property
    def metrics_names(self):
        return ["loss"] + list(self._get_trainer().metric_names)

    def _data(self, what, x, y):
        t = self._get_trainer()
        data = _named(what, _specs(t.inputs), x, {})
        targets = _named(what, _specs(t.targets), y, {})
        for k, v in targets.items():
            if k in data:
                raise Error(f"{what}: '{k}' given in both x and y")
            data[k] = v
        return data

    def _prepared(self, what, data):
        """`data` checked as `loom train` checks its .npz, then as arrays of the declared
        dtypes (the same objects when they already are), and the row count."""
        t = self._get_trainer()
        rows = t.check_data(data, what)
        dtypes = {s.name: s.dtype for s in _specs(t.inputs) + _specs(t.targets)}
        return {k: np.ascontiguousarray(v, dtype=dtypes[k]) for k, v in data.items()}, rows

    def _logs(self, prefix, sums, n):
        t = self._trainer
        names = ["loss"] + list(t.metric_names)
        return {prefix + k: s / n for k, s in zip(names, sums)}

    def _evaluate_arrays(self, data, rows, batch_size, cbs=None):
        t = self._sync_trainer()
        sums = [0.0] * (1 + len(t.metric_names))
        if cbs:
            cbs.call("on_test_begin", {})
        for b, begin in enumerate(range(0, rows, batch_size)):
            end = min(rows, begin + batch_size)
            if cbs:
                cbs.call("on_test_batch_begin", b, {})
            loss, metrics = t.evaluate_batch({k: v[begin:end] for k, v in data.items()})
            for i, v in enumerate([loss] + list(metrics)):
                sums[i] += v * (end - begin)
            if cbs:
                cbs.call("on_test_batch_end", b, self._logs("", sums, end))
        logs = self._logs("", sums, rows)
        if cbs:
            cbs.call("on_test_end", logs)
        return logs

    def fit(self, x=None, y=None, batch_size=None, epochs=None, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, seed=1):
        """Trains with the model file's train block, as Keras's fit: `x` the inputs and `y`
        the targets (dicts by name, or single arrays), `epochs` and `batch_size` defaulting
        to the train block's. `seed` draws the initial weights if there are none yet, the
        shuffling and dropout masks: with the same seed the weights and history equal
        `loom train --seed S [--shuffle]` bit for bit. Returns a History."""
        t = self._get_trainer()
        data = self._data("fit", x, y)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise Error("fit: validation_data must be a pair (x, y)")
            val = self._data("validation_data", *validation_data)
        elif validation_split:
            if not 0 < validation_split < 1:
                raise Error(f"fit: validation_split is {validation_split}; it must be in (0, 1)")
            data = {k: np.asarray(v) for k, v in data.items()}
            n = next(iter(data.values())).shape[0] if data else 0
            split = int(math.floor(n * (1.0 - validation_split)))
            val = {k: v[split:] for k, v in data.items()}
            data = {k: v[:split] for k, v in data.items()}
        data, rows = self._prepared("fit", data)
        if val is not None:
            val, val_rows = self._prepared("validation data", val)
        epochs = _positive("fit: epochs", t.epochs if epochs is None else epochs)
        batch_size = _positive("fit: batch_size", t.batch_size if batch_size is None else batch_size)
        seed = int(seed)
        t = self._sync_trainer(seed)
        t.set_seed(seed)
        batches = (rows + batch_size - 1) // batch_size
        if verbose == "auto":
            verbose = 1
        history = _callbacks.History()
        cbs = _callbacks.CallbackList(list(callbacks or []), history, verbose,
                                      model=self, params={"verbose": verbose, "epochs": epochs,
                                                          "steps": batches})
        self.stop_training = False
        nsums = 1 + len(t.metric_names)
        cbs.call("on_train_begin", {})
        for epoch in range(initial_epoch, epochs):
            order = _loom.epoch_order(rows, bool(shuffle), seed, epoch) if shuffle else None
            t.reset_states()
            cbs.call("on_epoch_begin", epoch, {})
            sums, seen = [0.0] * nsums, 0
            for b in range(batches):
                begin, end = b * batch_size, min(rows, (b + 1) * batch_size)
                cbs.call("on_train_batch_begin", b, {})
                if order is None:
                    batch = {k: v[begin:end] for k, v in data.items()}
                else:
                    idx = order[begin:end]
                    batch = {k: v[idx] for k, v in data.items()}
                if self._newest == "model":  # a callback replaced the weights
                    self._sync_trainer(seed)
                loss, metrics = t.train_batch(batch)
                self._newest = "trainer"
                for i, v in enumerate([loss] + list(metrics)):
                    sums[i] += v * (end - begin)
                seen += end - begin
                cbs.call("on_train_batch_end", b, self._logs("", sums, seen))
                if self.stop_training:
                    break
            logs = self._logs("", sums, seen)
            if val is not None:
                logs.update({"val_" + k: v for k, v in
                             self._evaluate_arrays(val, val_rows, batch_size, cbs).items()})
            cbs.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        cbs.call("on_train_end", {})
        self.history = history
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, return_dict=False,
                 callbacks=None):
        """Loss and metrics on the data in inference mode (dropout off), as `loom eval`:
        the loss alone, [loss, metrics...], or a dict with return_dict."""
        t = self._sync_trainer()
        data, rows = self._prepared("evaluate", self._data("evaluate", x, y))
        batch_size = _positive("evaluate: batch_size",
                               t.batch_size if batch_size is None else batch_size)
        cbs = None
        if callbacks:
            cbs = _callbacks.CallbackList(list(callbacks), None, 0, model=self, params={})
        return self._returned(self._evaluate_arrays(data, rows, batch_size, cbs), return_dict)

    def train_on_batch(self, x=None, y=None, return_dict=False):
        """One optimizer step on one batch; its loss and metrics before the update."""
        t = self._sync_trainer()
        loss, metrics = t.train_batch(self._data("train_on_batch", x, y))
        self._newest = "trainer"
        names = ["loss"] + list(t.metric_names)
        return self._returned(dict(zip(names, [loss] + list(metrics))), return_dict)

    def test_on_batch(self, x=None, y=None, return_dict=False):
        t = self._sync_trainer()
        loss, metrics = t.evaluate_batch(self._data("test_on_batch", x, y))
        names = ["loss"] + list(t.metric_names)
        return self._returned(dict(zip(names, [loss] + list(metrics))), return_dict)

    @staticmethod
    def _returned(logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


def _positive(what, n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise Error(f"{what} is {n!r}; it must be a positive integer")
    return int(n)
