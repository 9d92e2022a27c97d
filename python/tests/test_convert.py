"""loom.convert: PyTorch state dicts (fixtures made by gen_torch_fixtures.py with PyTorch)
and Keras 2 / Keras 3 weight files (written by keras_h5.py) into loom's layout."""
import os

import numpy as np
import pytest

import loom
from conftest import SRC
from keras_h5 import write_keras2, write_keras3

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH = os.path.join(HERE, "fixtures", "torch")
LAYERS3 = os.path.join(SRC, "tests", "fixtures", "layers3")
TORCH_CASES = sorted(f[:-len(".loom")] for f in os.listdir(TORCH) if f.endswith(".loom"))


def fixture(d, case):
    m = loom.Model.from_file(os.path.join(d, case + ".loom"))
    load = lambda kind: dict(np.load(os.path.join(d, f"{case}.{kind}.npz")))  # noqa: E731
    return m, load


def assert_outputs(m, inputs, expected):
    outs = m(inputs)
    outs = outs if isinstance(outs, dict) else {m.outputs[0].name: outs}
    for k, want in expected.items():
        assert np.max(np.abs(outs[k] - want)) <= 1e-5, k


@pytest.mark.parametrize("case", TORCH_CASES)
def test_from_torch_equals_pytorch_forward(case):
    m, load = fixture(TORCH, case)
    m.set_weights(loom.convert.from_torch(load("state"), m))
    assert_outputs(m, load("inputs"), load("expected"))


class FakeTensor:
    """What from_torch reads of a torch.Tensor: detach().cpu().numpy()."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


class FakeModule:
    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return {k: FakeTensor(v) for k, v in self.state.items()}


def test_from_torch_takes_a_module_and_a_model_path():
    m, load = fixture(TORCH, "gru_embedding")
    w = loom.convert.from_torch(FakeModule(load("state")),
                                os.path.join(TORCH, "gru_embedding.loom"))
    m.set_weights(w)
    assert_outputs(m, load("inputs"), load("expected"))
    # GRU gates: PyTorch's (r, z, n) rows become Keras's (z, r, h) columns
    s = load("state")
    assert np.array_equal(w["h/kernel"][:, :6], s["gru.weight_ih_l0"][6:12].T)
    assert np.array_equal(w["h/bias"][1, 12:], s["gru.bias_hh_l0"][12:])


def test_from_torch_mapping_and_errors():
    m, load = fixture(TORCH, "lstm_bidirectional_2_levels")
    s = load("state")
    mapping = {"h1": "rnn[layer 0]", "h2": "rnn[layer 1]", "y": "head"}
    w = loom.convert.from_torch(s, m, mapping=mapping)
    m.set_weights(w)
    assert_outputs(m, load("inputs"), load("expected"))
    with pytest.raises(loom.Error, match=r"PyTorch has no layer 'nope'"):
        loom.convert.from_torch(s, m, mapping={**mapping, "y": "nope"})
    with pytest.raises(loom.Error, match=r"loom layer 'y' \(dense.*paired with PyTorch's "
                                         r"'rnn\[layer 1\]', a rnn"):
        loom.convert.from_torch(s, m, mapping={**mapping, "y": "rnn[layer 1]"})
    with pytest.raises(loom.Error, match=r"the loom model has 3 layers with weights \(h1, h2, y\)"
                                         r" but PyTorch has 2"):
        loom.convert.from_torch({k: v for k, v in s.items() if "_l1" not in k}, m)
    g, gload = fixture(TORCH, "gru_embedding")
    with pytest.raises(loom.Error, match=r"PyTorch's 'rnn\[layer 0\]' is nn.LSTM with 5 units but"
                                         r" loom layer 'h' .*is a gru"):
        loom.convert.from_torch({**{k: v for k, v in gload("state").items()
                                    if not k.startswith("gru.")},
                                 **{k: v for k, v in s.items() if "_l0" in k
                                    and "reverse" not in k}}, g,
                                mapping={"e": "emb", "h": "rnn[layer 0]", "y": "fc"})
    bad = dict(gload("state"))
    bad["fc.weight"] = np.zeros((3, 6), np.float32)
    with pytest.raises(loom.Error, match=r"PyTorch's 'fc' gives 'y/kernel' the shape \[6, 3\], "
                                         r"but the model needs \[6, 2\]"):
        loom.convert.from_torch(bad, g)
    with pytest.raises(loom.Error, match=r"expected an nn.Module or a state_dict, got int"):
        loom.convert.from_torch(3, g)


H5_CASES = ["bilstm", "stacked_lstm", "sketch", "embedding_mask_zero_gru", "gru_v1_seq",
            "simple_rnn_masked", "batch_norm_default"]


@pytest.mark.parametrize("keras3", [False, True], ids=["keras2", "keras3"])
@pytest.mark.parametrize("case", H5_CASES)
def test_from_keras_h5_equals_the_float64_reference(case, keras3, tmp_path):
    m, load = fixture(LAYERS3, case)
    w = load("weights")
    path = tmp_path / ("w.weights.h5" if keras3 else "w.h5")
    (write_keras3 if keras3 else write_keras2)(path, m, w)
    mapping = None
    if keras3 and case in ("stacked_lstm", "sketch"):
        # layers with the same weight shapes cannot be told apart in a Keras 3 file
        with pytest.raises(loom.Error, match=r"more than one Keras layer .* pass mapping="):
            loom.convert.from_keras_h5(path, m)
        names = {"stacked_lstm": {"h1": "lstm", "h2": "lstm_1", "y": "lstm_2"},
                 "sketch": {"c1": "conv1d", "n1": "batch_normalization", "c2": "conv1d_1",
                            "n2": "batch_normalization_1", "c3": "conv1d_2",
                            "n3": "batch_normalization_2", "s": "lstm", "h": "lstm_1",
                            "y": "dense"}}
        mapping = names[case]
    got = loom.convert.from_keras_h5(path, m, mapping=mapping)
    assert set(got) == set(w) and all(np.array_equal(got[k], w[k]) for k in w)
    m.set_weights(got)
    assert_outputs(m, load("inputs"), load("expected"))


def test_from_keras_h5_errors(tmp_path):
    m, load = fixture(LAYERS3, "bilstm")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(loom.Error, match=r"junk.h5: cannot read it as HDF5"):
        loom.convert.from_keras_h5(tmp_path / "junk.h5", m)
    import h5py
    h5py.File(tmp_path / "empty.h5", "w").close()
    with pytest.raises(loom.Error, match=r"not a Keras weights file"):
        loom.convert.from_keras_h5(tmp_path / "empty.h5", m)
    other, oload = fixture(LAYERS3, "stacked_lstm")
    write_keras2(tmp_path / "s.h5", other, oload("weights"))
    with pytest.raises(loom.Error, match=r"the loom model has 1 layers with weights \(y\) but "
                                         r".*s.h5 has 3 \(lstm, lstm_1, lstm_2\)"):
        loom.convert.from_keras_h5(tmp_path / "s.h5", m)
