"""Keras's training callbacks, with Keras's hook names and semantics, for loom.Model.fit.

A user callback subclasses Callback and overrides any of on_train_begin/end,
on_epoch_begin/end, on_train_batch_begin/end, on_test_begin/end, on_test_batch_begin/end;
`self.model` is the loom.Model (set `self.model.stop_training = True` to stop), and
`self.model.optimizer.learning_rate` can be read and set.
"""
import csv
import os
import sys
import time
import warnings

import numpy as np

from ._loom import Error


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass


class CallbackList:
    """The user's callbacks, then the progress line (verbose > 0), then History."""

    def __init__(self, callbacks, history, verbose, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise Error(f"callbacks: {cb!r} is not a loom.callbacks.Callback")
        if verbose:
            self.callbacks.append(ProgbarLogger())
        if history is not None:
            self.callbacks.append(history)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)


class History(Callback):
    """Records every epoch's logs: history["loss"], history["val_accuracy"], ... (floats)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    def plot(self, path, keys=None):
        """Draws the curves (a panel per quantity, its val_ curve beside it) into an image
        file with matplotlib; returns the path."""
        from ._plot import plot_history
        return plot_history(self.history, path, keys=keys, epochs=[e + 1 for e in self.epoch])


def _fmt(v):
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


class ProgbarLogger(Callback):
    """Keras's progress line on stdout: "Epoch 3/20", then per epoch
    "125/125 [======] - 0.8s - loss: 0.6931 - accuracy: 0.5000 - 5000 samples/s - val_loss:
    ..."; with verbose=1 on a terminal the bar is redrawn as batches finish."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._drawn = time.monotonic()
        self._width = 0
        self._rows = 0
        print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        if self.params.get("verbose") != 1 or not sys.stdout.isatty():
            return
        now = time.monotonic()
        if now - self._drawn < 0.05:
            return
        self._drawn = now
        self._draw(self._line(batch + 1, logs))

    def _line(self, done, logs):
        steps = self.params.get("steps") or 1
        secs = time.monotonic() - self._start
        digits = len(str(steps))
        if self.params.get("verbose") == 1:
            filled = 30 * done // steps
            bar = "=" * filled
            if done < steps:
                bar = (bar[:-1] + ">" if filled else "") + "." * (30 - filled)
            s = f"{done:>{digits}}/{steps} [{bar}] - {secs:.1f}s"
        else:
            s = f"{done:>{digits}}/{steps} - {secs:.1f}s"
        for k, v in logs.items():
            if not k.startswith("val_"):
                s += f" - {k}: {_fmt(v)}"
        for k, v in logs.items():
            if k.startswith("val_"):
                s += f" - {k}: {_fmt(v)}"
        return s

    def _draw(self, text):
        pad = max(0, self._width - len(text))
        sys.stdout.write("\r" + text + " " * pad)
        sys.stdout.flush()
        self._width = len(text)

    def on_epoch_end(self, epoch, logs=None):
        text = self._line(self.params.get("steps") or 1, logs or {})
        if self._width:
            self._draw(text)
            sys.stdout.write("\n")
        else:
            print(text)
        sys.stdout.flush()


def _monitor_op(monitor, mode, what):
    if mode not in ("auto", "min", "max"):
        raise Error(f"{what}: mode is {mode!r}; it must be 'auto', 'min' or 'max'")
    if mode == "auto":
        name = monitor[4:] if monitor.startswith("val_") else monitor
        mode = "max" if any(w in name for w in ("acc", "auc", "precision", "recall")) else "min"
    return mode


def _current(cb, logs, what):
    v = (logs or {}).get(cb.monitor)
    if v is None:
        warnings.warn(f"{what} is conditioned on '{cb.monitor}', which is not available; "
                      f"available: {', '.join(sorted(logs or {}))}", stacklevel=3)
    return v


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than `min_delta` for
    `patience` epochs; with restore_best_weights, the weights of the best epoch are put back.
    Keras's semantics (stopped_epoch, best_epoch, baseline, start_from_epoch)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = _monitor_op(monitor, mode, "EarlyStopping")
        self.min_delta = abs(min_delta) if self.mode == "max" else -abs(min_delta)

    def _better(self, value, reference):
        if reference is None:
            return True
        v = value - self.min_delta
        return v > reference if self.mode == "max" else v < reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = _current(self, logs, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved for
    `patience` epochs (then waits `cooldown` epochs), down to `min_lr`. Adds
    logs["learning_rate"]."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise Error(f"ReduceLROnPlateau: factor is {factor}; it must be below 1")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.mode = _monitor_op(monitor, mode, "ReduceLROnPlateau")

    def _better(self, a, b):
        if b is None:
            return True
        return a < b - self.min_delta if self.mode == "min" else a > b + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        logs["learning_rate"] = float(opt.learning_rate)
        current = _current(self, logs, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(opt.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    opt.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch to schedule(epoch, lr) (or
    schedule(epoch)). Adds logs["learning_rate"]."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(opt.learning_rate))
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise Error(f"LearningRateScheduler: the schedule returned {lr!r}, not a number")
        opt.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ModelCheckpoint(Callback):
    """Writes the weights (.npz) after every epoch, or only when `monitor` improved
    (save_best_only). `filepath` may hold Keras's fields: "w-{epoch:02d}-{val_loss:.3f}.npz".
    loom saves weights only (save_weights_only is accepted and always true)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=True, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise Error(f"ModelCheckpoint: save_freq is {save_freq!r}; loom saves per epoch")
        self.filepath = os.fspath(filepath)
        if not self.filepath.endswith(".npz"):
            raise Error(f"ModelCheckpoint: {self.filepath}: loom writes weights as numpy .npz; "
                        f"give a path ending in .npz")
        self.monitor, self.verbose, self.save_best_only = monitor, verbose, save_best_only
        self.mode = _monitor_op(monitor, mode, "ModelCheckpoint")
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise Error(f"ModelCheckpoint: {self.filepath} names {e}, which is not in the logs "
                        f"({', '.join(sorted(logs))})") from None
        if self.save_best_only:
            current = _current(self, logs, "ModelCheckpoint")
            if current is None:
                return
            if self.best is not None and not (
                    current < self.best if self.mode == "min" else current > self.best):
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        self.model.save_weights(path)


class CSVLogger(Callback):
    """Streams every epoch's logs to a CSV file, as Keras: a header "epoch,<keys sorted>",
    epochs counted from 0."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename)
        self._header_written = exists and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.sep)
            if not self._header_written:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [logs.get(k, "NA") for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()
