"""Shared by the pytest suites: where the loom tool and the repository are, small data sets,
and the `loom` CLI as a function (the tests compare the module with it)."""
import os
import subprocess
import sys

import numpy as np
import pytest

SRC = os.environ.get("LOOM_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LOOM = os.environ.get("LOOM_BIN", os.path.join(SRC, "build", "tools", "loom"))
REBER = os.path.join(SRC, "examples", "layers", "reber.loom")

REG = """model reg(x: f32[B, 3]) -> (y: f32[B, 1]) {
  y = dense(x, 1)
}

train reg(t: f32[B, 1]) {
  loss = mse(y, t)
  optimizer = sgd(learning_rate=0.05)
  metrics = [mae]
  epochs = 3
  batch_size = 8
}
"""


def run_loom(*args, check=True):
    """Runs the loom tool; returns (stdout, stderr)."""
    p = subprocess.run([LOOM, *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"loom {' '.join(map(str, args))} failed:\n{p.stderr}")
    return p.stdout, p.stderr


@pytest.fixture(scope="session")
def reber_data(tmp_path_factory):
    """A small embedded-Reber data set (examples/reber/gen_data.py): train.npz, val.npz."""
    d = tmp_path_factory.mktemp("reber")
    subprocess.run([sys.executable, os.path.join(SRC, "examples", "reber", "gen_data.py"),
                    "--n-train", "200", "--n-val", "64", "--seed", "4", "--out-dir", str(d)],
                   check=True, capture_output=True)
    return d


@pytest.fixture(scope="session")
def reg_data():
    """A linear regression problem for the small `reg` model: 40 rows."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    t = (x @ np.array([[0.5], [-1.0], [2.0]], np.float32) + 0.3).astype(np.float32)
    return x, t
