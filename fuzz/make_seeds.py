"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/<target>/).

Usage: /usr/bin/python3 fuzz/make_seeds.py   (from the repository root; needs numpy)
npy: every dtype, byte order, layout and format version loom reads, and a few it refuses;
npz: stored, deflated and empty archives; model: the examples and the prelude-heavy
layers; ir: the IR text of the lit tests.
"""
import glob
import io
import os
import shutil
import zipfile

import numpy as np

root = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(root, "corpus")
for t in ["npy", "npz", "model", "ir"]:
    shutil.rmtree(os.path.join(out, t), ignore_errors=True)
    os.makedirs(os.path.join(out, t))

a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
npys = {
    "f4": a, "f8": a.astype(np.float64), "i4": (a * 8).astype(np.int32),
    "i8": (a * 8).astype(np.int64), "f2": a.astype(np.float16), "bool": a > 1,
    "big_f4": a.astype(">f4"), "big_i2": (a * 8).astype(">i2"), "fortran": a.T,
    "u1": (a * 8).astype(np.uint8), "u8": (a * 8).astype(np.uint64), "scalar": np.float32(3),
    "empty": np.zeros((0, 5), np.float32), "complex": a.astype(np.complex64),
}
for name, x in npys.items():
    np.save(os.path.join(out, "npy", name + ".npy"), x)
for v in [(2, 0), (3, 0)]:
    with open(os.path.join(out, "npy", "v%d.npy" % v[0]), "wb") as f:
        np.lib.format.write_array(f, a, version=v)

small = {"y/kernel": a[0], "y/bias": np.ones(4, np.float32), "ids": np.array([1, 2], np.int32)}
np.savez(os.path.join(out, "npz", "stored.npz"), **small)
np.savez_compressed(os.path.join(out, "npz", "deflated.npz"), **small)
np.savez(os.path.join(out, "npz", "empty.npz"))
np.savez_compressed(os.path.join(out, "npz", "mixed.npz"), big=a.astype(">f2").T, b=a > 0)
with zipfile.ZipFile(os.path.join(out, "npz", "not_npy.npz"), "w") as z:
    z.writestr("readme.txt", "hello")

src = os.path.dirname(root)
for i, path in enumerate(sorted(glob.glob(os.path.join(src, "examples", "**", "*.loom"),
                                          recursive=True))):
    shutil.copy(path, os.path.join(out, "model", "%02d_%s" % (i, os.path.basename(path))))
for i, path in enumerate(sorted(glob.glob(os.path.join(src, "tests", "lit", "ir", "*.lir")))):
    # The lit files hold several functions split by `// ---` markers; each is a seed.
    text = open(path).read()
    parts = [p for p in text.split("//--- ") if "func @" in p]
    for j, p in enumerate(parts or [text]):
        body = p.split("\n", 1)[1] if p is not text and "\n" in p else p
        with open(os.path.join(out, "ir", "%02d_%02d.lir" % (i, j)), "w") as f:
            f.write(body)
print({t: len(os.listdir(os.path.join(out, t))) for t in ["npy", "npz", "model", "ir"]})
