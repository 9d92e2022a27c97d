"""examples/python/: the scripts run as a user runs them."""
import os
import subprocess
import sys

import numpy as np

from conftest import SRC

EXAMPLES = os.path.join(SRC, "examples", "python")


def run(script, *args):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *map(str, args)],
                       capture_output=True, text=True, env=os.environ)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_reber(tmp_path):
    out = run("reber.py", "--quick", "--out", tmp_path)
    assert "Epoch 3/3" in out and " - val_accuracy: " in out
    assert "validation: loss " in out
    w = np.load(tmp_path / "trained.npz")
    assert w["h/kernel"].shape == (4, 300)
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_torch_to_loom():
    out = run("torch_to_loom.py")
    diff = float(out.strip().splitlines()[-1].split()[-1])
    assert diff <= 1e-5
