"""loom convert and loom plot-history: the tool's commands that run the Python package."""
import os

import numpy as np
import pytest

import loom
from conftest import SRC, run_loom
from keras_h5 import write_keras3

TORCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch")


def test_convert_torch(tmp_path):
    case = os.path.join(TORCH, "lstm_bidirectional_2_levels")
    out, _ = run_loom("convert", "--from", "torch", case + ".state.npz", "--model",
                      case + ".loom", "-o", tmp_path / "w.npz")
    assert out.startswith("converted 14 weights of ")
    w = np.load(tmp_path / "w.npz")
    want = loom.convert.from_torch(dict(np.load(case + ".state.npz")), case + ".loom")
    assert set(w) == set(want) and all(np.array_equal(w[k], want[k]) for k in w)
    # and loom run agrees with PyTorch's outputs
    np.save(tmp_path / "x.npy", np.load(case + ".inputs.npz")["x"])
    run_loom("run", case + ".loom", "--weights", tmp_path / "w.npz", "--input",
             f"x={tmp_path / 'x.npy'}", "-o", tmp_path / "y.npz")
    y = np.load(tmp_path / "y.npz")["y"]
    assert np.max(np.abs(y - np.load(case + ".expected.npz")["y"])) <= 1e-5


def test_convert_keras_h5_with_a_mapping(tmp_path):
    layers3 = os.path.join(SRC, "tests", "fixtures", "layers3", "stacked_lstm")
    m = loom.Model.from_file(layers3 + ".loom")
    w = dict(np.load(layers3 + ".weights.npz"))
    write_keras3(tmp_path / "m.weights.h5", m, w)
    _, err = run_loom("convert", "--from", "keras-h5", tmp_path / "m.weights.h5", "--model",
                      layers3 + ".loom", "-o", tmp_path / "w.npz", check=False)
    assert "pass mapping=" in err and "loom: error: " in err
    assert not (tmp_path / "w.npz").exists()
    run_loom("convert", "--from", "keras-h5", tmp_path / "m.weights.h5", "--model",
             layers3 + ".loom", "--map", "h1=lstm", "--map", "h2=lstm_1", "--map", "y=lstm_2",
             "-o", tmp_path / "w.npz")
    got = np.load(tmp_path / "w.npz")
    assert all(np.array_equal(got[k], w[k]) for k in w)


def test_convert_errors(tmp_path):
    case = os.path.join(TORCH, "gru_embedding")
    _, err = run_loom("convert", "--from", "torch", tmp_path / "none.npz", "--model",
                      case + ".loom", "-o", tmp_path / "w.npz", check=False)
    assert err.strip().endswith(f"loom: error: cannot read '{tmp_path / 'none.npz'}'")
    _, err = run_loom("convert", "--from", "onnx", "x", "--model", case + ".loom", "-o", "w",
                      check=False)
    assert "invalid choice: 'onnx'" in err
    bad = tmp_path / "bad.loom"
    bad.write_text("model m(x: f32[B, 3]) -> (y) {\n  y = dense(x 2)\n}\n")
    _, err = run_loom("convert", "--from", "torch", case + ".state.npz", "--model", bad, "-o",
                      tmp_path / "w.npz", check=False)
    assert f"{bad}:2:" in err and "^" in err


def test_plot_history(tmp_path):
    (tmp_path / "h.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy\n"
                                    "1,0.69,0.5,0.7,0.5\n2,0.5,0.7,0.55,0.66\n")
    out, _ = run_loom("plot-history", tmp_path / "h.csv", "-o", tmp_path / "c.png")
    assert out.strip() == f"wrote {tmp_path / 'c.png'}"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "bad.csv").write_text("epoch,loss\n1,abc\n")
    _, err = run_loom("plot-history", tmp_path / "bad.csv", "-o", tmp_path / "d.png",
                      check=False)
    assert "bad.csv:2: column 'loss' holds 'abc', not a number" in err
    _, err = run_loom("plot-history", tmp_path / "none.csv", "-o", tmp_path / "d.png",
                      check=False)
    assert "loom: error: cannot read" in err
