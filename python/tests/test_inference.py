"""loom.Model for inference: signatures, weights, numpy in and out, errors, threads."""
import os
import threading
import time

import numpy as np
import pytest

import loom
from conftest import REBER, REG, SRC, run_loom

SIMPLE = os.path.join(SRC, "examples", "shapes", "simple_rnn.loom")


@pytest.fixture(scope="module")
def reber():
    m = loom.Model.from_file(REBER)
    m.init_weights(seed=1)
    return m


@pytest.fixture(scope="module")
def simple():
    m = loom.Model.from_file(SIMPLE)
    m.init_weights(seed=3)
    return m


def tokens(b, t, seed=0):
    return np.random.default_rng(seed).integers(1, 8, (b, t)).astype(np.int32)


def test_signature(reber):
    assert reber.name == "reber"
    assert reber.inputs == [loom.TensorSpec("x", np.dtype(np.int32), ("B", "T"))]
    assert reber.outputs == [loom.TensorSpec("y", np.dtype(np.float32), ("B", 1))]
    assert [s.name for s in reber.weight_specs] == [
        "e/embeddings", "h/kernel", "h/recurrent_kernel", "h/bias", "y/kernel", "y/bias"]
    assert reber.signature["weights"][2].shape == (100, 300)
    assert "reber(x: int32[B,T]) -> (y: float32[B,1])" in repr(reber)


def test_outputs_equal_loom_run(reber, tmp_path):
    x = tokens(3, 11)
    np.save(tmp_path / "x.npy", x)
    run_loom("init", REBER, "-o", tmp_path / "w.npz", "--seed", 1)
    run_loom("run", REBER, "--weights", tmp_path / "w.npz", "--input", f"x={tmp_path / 'x.npy'}",
             "-o", tmp_path / "y.npz")
    y = reber(x=x)
    assert y.dtype == np.float32 and y.shape == (3, 1)
    assert np.array_equal(y, np.load(tmp_path / "y.npz")["y"])
    # the same weights as `loom init --seed 1`, bit for bit
    w = np.load(tmp_path / "w.npz")
    assert all(np.array_equal(w[k], reber.weights[k]) for k in reber.weights)


def test_any_batch_and_length(reber):
    for b, t in [(1, 1), (2, 30), (5, 7)]:
        assert reber(tokens(b, t)).shape == (b, 1)


def test_input_forms(reber):
    x = tokens(2, 6)
    want = reber(x=x)
    assert np.array_equal(reber(x), want)
    assert np.array_equal(reber({"x": x}), want)
    assert np.array_equal(reber([x]), want)
    assert np.array_equal(reber(x.tolist()), want)
    assert np.array_equal(reber.predict({"x": x}), want)


def test_predict_batches(reber):
    x = tokens(7, 9)
    assert np.array_equal(reber.predict(x, batch_size=3), reber(x))


def test_zero_copy(simple):
    x = np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32)
    # a C-contiguous f32 array reaches the compiled code as itself
    assert simple._c.data_pointers({"x": x})["x"] == x.ctypes.data
    v = x[1:]  # a contiguous view into the middle of another array
    assert simple._c.data_pointers({"x": v})["x"] == v.ctypes.data
    i = tokens(2, 3)
    assert simple._c.data_pointers({"x": i})["x"] != i.ctypes.data  # converted to f32
    # outputs are arrays over loom's memory, owned by the array
    y = simple(x=x)
    assert y.flags["C_CONTIGUOUS"] and y.base is not None and y.flags["WRITEABLE"]


@pytest.mark.parametrize("make", [
    lambda x: x.astype(np.float64),
    lambda x: np.asfortranarray(x),
    lambda x: np.repeat(x, 2, axis=2)[:, :, ::2],  # strided view
    lambda x: x.astype(">f4"),  # big-endian
    lambda x: x.astype(np.float16).astype(np.float32),
], ids=["float64", "fortran", "strided", "big-endian", "float16-values"])
def test_float_conversions(simple, make):
    x = np.random.default_rng(2).standard_normal((2, 4, 5)).astype(np.float32)
    c = make(x)
    assert np.array_equal(simple(x=c), simple(x=np.ascontiguousarray(c, np.float32)))


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.uint8, np.uint64])
def test_integer_conversions(reber, dtype):
    x = tokens(3, 5)
    assert np.array_equal(reber(x=x.astype(dtype)), reber(x=x))
    assert np.array_equal(reber(x=np.asfortranarray(x.astype(dtype))), reber(x=x))
    assert np.array_equal(reber(x=x.astype(dtype)[:, ::-1]), reber(x=x[:, ::-1].copy()))


def test_integers_into_f32(simple):
    x = np.arange(40).reshape(2, 4, 5)
    assert np.array_equal(simple(x=x), simple(x=x.astype(np.float32)))


def test_conversion_errors(reber):
    with pytest.raises(loom.Error, match=r"input 'x': expected int32, got a float64 array of "
                                         r"shape \(2, 3\) \(convert floats"):
        reber(x=np.ones((2, 3)))
    with pytest.raises(loom.Error, match=r"input 'x': value 4294967296 of a int64 array of shape "
                                         r"\(1, 2\) does not fit in int32"):
        reber(x=np.array([[1, 2 ** 32]]))
    with pytest.raises(loom.Error, match=r"input 'x': expected int32, got a <U1 array"):
        reber(x=np.array([["a"]]))
    with pytest.raises(loom.Error, match=r"does not fit in int32"):
        reber(x=np.array([[2 ** 63 + 5]], np.uint64))


def test_weights_mapping(tmp_path):
    m = loom.Model.from_file(SIMPLE)
    with pytest.raises(loom.Error, match=r"weight 'y/kernel' has no value"):
        m.weights["y/kernel"]
    m.init_weights(seed=5)
    w = m.weights
    assert list(w) == ["y/kernel", "y/recurrent_kernel", "y/bias"] and len(w) == 3
    k = w["y/kernel"]
    assert k.shape == (5, 64) and k.dtype == np.float32
    k[:] = 0  # a copy: the model is unchanged
    assert np.any(m.weights["y/kernel"] != 0)
    x = np.ones((1, 2, 5), np.float32)
    before = m(x=x)
    m.weights["y/bias"] = np.full(64, 0.25)  # float64, converted
    assert np.all(m.weights["y/bias"] == np.float32(0.25))
    assert not np.array_equal(m(x=x), before)
    with pytest.raises(loom.Error, match=r"weight 'y/bias': expected f32\[64\], got f32 \(63,\) "
                                         r"\(dim 0 is 63, expected 64\)"):
        m.weights["y/bias"] = np.zeros(63, np.float32)
    with pytest.raises(loom.Error, match=r"'z' is not a weight of model simple_rnn"):
        m.weights["z"] = np.zeros(3, np.float32)
    with pytest.raises(KeyError):
        m.weights["z"]
    # Keras's list form and the npz round trip
    values = m.get_weights()
    m2 = loom.Model.from_file(SIMPLE)
    m2.set_weights(values)
    assert np.array_equal(m2(x=x), m(x=x))
    m.save_weights(tmp_path / "w.npz")
    m3 = loom.Model.from_file(SIMPLE)
    m3.load_weights(tmp_path / "w.npz")
    assert all(np.array_equal(m3.weights[k], m.weights[k]) for k in m.weights)
    with pytest.raises(loom.Error, match=r"got 2 arrays but the model has 3 weights"):
        m2.set_weights(values[:2])
    with pytest.raises(loom.Error, match=r"\.npz"):
        m.save_weights(tmp_path / "w.h5")


def test_model_selection_and_source():
    two = REG + "\nmodel other(x: f32[B, 2]) -> (y: f32[B, 4]) {\n  y = dense(x, 4)\n}\n"
    with pytest.raises(loom.Error, match=r"reg, other|model="):
        loom.Model.from_source(two, name="two.loom")
    m = loom.Model.from_source(two, model="other")
    assert m.name == "other" and m.outputs[0].shape == ("B", 4)


def test_errors(reber, tmp_path):
    assert issubclass(loom.Error, ValueError)
    with pytest.raises(loom.Error, match=r"cannot read '/nonexistent.loom'"):
        loom.Model.from_file("/nonexistent.loom")
    bad = "model m(x: f32[B, T, 5]) -> (y: f32[B, T, 4]) {\n" \
          "  y = simple_rnn(x, units=4 return_sequences=true)\n}\n"
    with pytest.raises(loom.Error) as e:
        loom.Model.from_source(bad, name="bad.loom")
    assert str(e.value) == ("bad.loom:2:29: error: expected ')' after arguments, found "
                            "identifier 'return_sequences'\n"
                            "    y = simple_rnn(x, units=4 return_sequences=true)\n"
                            "                              ^")
    with pytest.raises(loom.Error, match=r"input 'x': expected i32\[B,T\], got i32 \(2, 3, 4\)"):
        reber(x=np.zeros((2, 3, 4), np.int32))
    with pytest.raises(loom.Error, match=r"missing input 'x' \(i32\[B,T\]\)"):
        reber({})
    with pytest.raises(loom.Error, match=r"'z' is not an input of model reber"):
        reber(x=tokens(1, 2), z=tokens(1, 2))
    with pytest.raises(loom.Error, match=r"token id|out of range|outside"):
        reber(x=np.array([[1, 9]], np.int32))
    fresh = loom.Model.from_file(REBER)
    with pytest.raises(loom.Error, match=r"weight 'e/embeddings' has no value: load the weights"):
        fresh(x=tokens(1, 2))
    with pytest.raises(loom.Error, match=r"cannot|No such|not"):
        fresh.load_weights(tmp_path / "missing.npz")
    with pytest.raises(loom.Error, match=r"names must be strings"):
        reber({1: tokens(1, 2)})
    with pytest.raises(loom.Error, match=r"expected an array of int32, got object|int32"):
        reber(x=object())


def test_threads(simple):
    """Python threads run one model at once, each result equal to the same call alone."""
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((1 + i % 3, 2 + i % 5, 5)).astype(np.float32) for i in range(16)]
    want = [simple(x=x) for x in xs]
    got = [None] * len(xs)

    def work(k):
        for i in range(k, len(xs), 4):
            for _ in range(3):
                got[i] = simple(x=xs[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_gil_is_released_while_compiled_code_runs(simple):
    x = np.random.default_rng(4).standard_normal((64, 600, 5)).astype(np.float32)
    simple(x=x)  # weights prepared
    stamps, done = [], threading.Event()

    def count():
        last = 0.0
        while not done.is_set():
            now = time.perf_counter()
            if now - last > 1e-4:
                stamps.append(now)
                last = now

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    simple(x=x)
    t1 = time.perf_counter()
    done.set()
    t.join()
    assert t1 - t0 > 0.02, "the call is too short to tell"
    inside = [s for s in stamps if t0 + 0.005 < s < t1 - 0.005]
    assert len(inside) >= 3, f"the other thread did not run during the call ({t1 - t0:.3f} s)"


def test_graph(simple, tmp_path):
    out, _ = run_loom("ir", SIMPLE, "--format=dot")
    assert simple.graph_dot() == out
    assert open(simple.plot_graph(tmp_path / "g.png"), "rb").read(4) == b"\x89PNG"
    assert "<svg" in open(simple.plot_graph(tmp_path / "g.svg")).read()
    with pytest.raises(loom.Error, match=r"give a .png, .svg, .pdf or .dot path"):
        simple.plot_graph(tmp_path / "g.jpeg")
