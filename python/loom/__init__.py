"""loom for Python: compile a .loom model, run it on numpy arrays, train it like Keras.

    import numpy as np, loom
    m = loom.Model.from_file("examples/layers/reber.loom")
    m.init_weights(seed=1)
    y = m(x=np.array(tokens, np.int32))
    hist = m.fit({"x": xs}, {"label": ys}, epochs=20, batch_size=32,
                 validation_data=({"x": xv}, {"label": yv}))

Everything runs in loom's compiled code through its C++ API (the extension loom._loom);
errors are loom.Error, a ValueError, with the messages of the `loom` tool.
"""
from ._loom import Error, load_npz, save_npz
from ._model import Model, TensorSpec
from . import callbacks, convert
from .callbacks import History

__all__ = ["Error", "Model", "TensorSpec", "History", "callbacks", "convert", "load_npz", "save_npz"]
