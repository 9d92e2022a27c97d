"""cmake --install puts the package where Debian's Python looks (lib/python3.X/dist-packages
under the prefix), and the installed module finds the installed libloom.so."""
import os
import subprocess
import sys

import pytest

BUILD = os.environ.get("LOOM_BUILD_DIR")


@pytest.mark.skipif(not BUILD, reason="needs LOOM_BUILD_DIR (set by ctest)")
def test_installed_package(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", BUILD, "--prefix", str(prefix)], check=True,
                   capture_output=True)
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "dist-packages"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    code = ("import loom, numpy as np; m = loom.Model.from_source("
            "'model m(x: f32[B, 3]) -> (y: f32[B, 2]) {\\n  y = dense(x, 2)\\n}\\n'); "
            "m.init_weights(1); print(loom.__file__, loom._loom.__file__, m(np.ones((4, 3))).shape)")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    mod, ext, shape = p.stdout.split(" ", 2)
    assert mod.startswith(str(site)) and ext.startswith(str(site)) and shape.strip() == "(4, 2)"
    # the installed tool finds the installed package for its Python commands
    (tmp_path / "h.csv").write_text("epoch,loss\n1,0.5\n2,0.4\n")
    p = subprocess.run([str(prefix / "bin" / "loom"), "plot-history", str(tmp_path / "h.csv"),
                        "-o", str(tmp_path / "c.png")], env=env | {"PYTHONPATH": ""},
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
