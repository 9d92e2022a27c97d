"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/<target>/).

Usage: /usr/bin/python3 fuzz/make_seeds.py   (from the repository root; needs numpy)
npy: every dtype, byte order, layout and format version loom reads, and a few it refuses;
npz: stored, deflated and empty archives; model: the examples and the prelude-heavy
layers; ir: the IR text of the lit tests; traindata: a slot-list byte and a training-data
archive, good and bad, for each of fuzz_traindata.cpp's slot lists; aot: weights files for
fuzz_aot.cpp's descriptor, good and bad; capi: argument sequences for fuzz_capi.cpp, encoded
the way FuzzedDataProvider decodes them. Files named regression-* (reproducers of fixed
bugs) are kept.
"""
import glob
import io
import os
import shutil
import zipfile

import struct

import numpy as np

root = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(root, "corpus")
targets = ["npy", "npz", "model", "ir", "traindata", "aot", "capi"]
for t in targets:
    os.makedirs(os.path.join(out, t), exist_ok=True)
    for name in os.listdir(os.path.join(out, t)):
        if not name.startswith("regression-"):
            os.remove(os.path.join(out, t, name))

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


def npz_bytes(compressed=False, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def write(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


# traindata: the first byte picks fuzz_traindata.cpp's slot list (0: x f32[B,T,5], t f32[B,1];
# 1: tokens i32[B,T], label i32[B] of 4 classes; 2: x f32[B,T,3], t f32[B,(T-5)/2+1,2];
# 3: x f32[B,3], y i32[B,T] of 7 classes).
rng = np.random.default_rng(0)
f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
i32 = lambda hi, *shape: rng.integers(0, hi, shape).astype(np.int32)
train = {
    "0-good": (0, dict(x=f32(7, 4, 5), t=f32(7, 1))),
    "0-deflated": (0, dict(x=f32(3, 2, 5), t=f32(3, 1)), True),
    "0-missing-target": (0, dict(x=f32(7, 4, 5))),
    "0-extra": (0, dict(x=f32(2, 4, 5), t=f32(2, 1), extra=f32(2))),
    "0-rows": (0, dict(x=f32(7, 4, 5), t=f32(6, 1))),
    "0-no-rows": (0, dict(x=f32(0, 4, 5), t=f32(0, 1))),
    "0-scalar": (0, dict(x=np.float32(1), t=f32(1, 1))),
    "1-good": (1, dict(tokens=i32(9, 5, 6), label=i32(4, 5))),
    "1-label-out-of-range": (1, dict(tokens=i32(9, 5, 6), label=np.array([0, 1, 4, 2, -1], np.int32))),
    "1-dtype": (1, dict(tokens=f32(5, 6), label=i32(4, 5))),
    "2-good": (2, dict(x=f32(3, 11, 3), t=f32(3, 4, 2))),
    "2-expression-dim": (2, dict(x=f32(3, 11, 3), t=f32(3, 5, 2))),
    "2-short": (2, dict(x=f32(3, 2, 3), t=f32(3, 0, 2))),
    "3-good": (3, dict(x=f32(4, 3), y=i32(7, 4, 5))),
    "3-symbol": (3, dict(x=f32(4, 3), y=i32(7, 4, 5, 1))),
}
for name, spec in train.items():
    write("traindata", name, bytes([spec[0]]) + npz_bytes(len(spec) > 2, **spec[1]))

# aot: weights files for fuzz_aot.cpp's model (y/kernel f32[5,4], y/bias f32[4], ids i32[2,3]).
good = {"y/kernel": f32(5, 4), "y/bias": f32(4), "ids": i32(9, 2, 3)}
aot = {
    "good": good,
    "missing": {k: v for k, v in good.items() if k != "y/bias"},
    "extra": dict(good, **{"z/kernel": f32(2)}),
    "mis-shaped": dict(good, **{"y/kernel": f32(4, 5)}),
    "wrong-rank": dict(good, **{"y/bias": f32(1, 4)}),
    "wrong-dtype": dict(good, ids=f32(2, 3)),
    "f64-and-u1": dict(good, **{"y/bias": f32(4).astype(np.float64),
                                "ids": i32(9, 2, 3).astype(np.uint8)}),
    "empty": {},
}
for name, arrays in aot.items():
    write("aot", name + ".npz", npz_bytes(False, **arrays))
write("aot", "good-deflated.npz", npz_bytes(True, **good))
write("aot", "not-a-zip.npz", b"not a zip archive")


class Fdp:
    """Encodes values the way fuzz_capi.cpp consumes them with FuzzedDataProvider:
    integers from the end of the data (first consumed byte most significant), bytes from
    the front."""

    def __init__(self):
        self.front, self.tail = bytearray(), bytearray()

    def int(self, v, lo, hi):
        r, n = hi - lo, 0
        while n < 64 and (r >> n) > 0:
            n += 8
        u = v - lo
        self.tail += u.to_bytes(n // 8, "big") if n else b""

    def i64(self, v):
        self.int(v, -2**63, 2**63 - 1)

    def bytes(self, b):
        self.front += b

    def data(self):
        return bytes(self.front) + bytes(reversed(self.tail))


NAMES = ["x", "lengths", "y", "nope", None]


def capi_seed(own, steps):
    e = Fdp()
    e.int(int(own), 0, 255)  # ConsumeBool
    e.int(len(steps), 1, 6)
    for st in steps:
        if st == "run":
            e.int(2, 0, 3)
            continue
        name, dtype, dims, contents = st
        e.int(0, 0, 3)
        e.int(NAMES.index(name), 0, 4)
        e.int(dtype, 0, 5)
        e.int(len(dims), -1, 5)
        e.int(1, 0, 15)  # not a raw rank
        for d in dims:
            if d < 0:
                e.int(1, 0, 7)
                e.int(-d, 1, 3)
            elif d > 9:
                e.int(0, 0, 7)
                e.i64(d)
            else:
                e.int(2, 0, 7)
                e.int(d, 0, 9)
        n = 4 * int(np.prod(dims)) if dims and min(dims) > 0 else 0
        if not dims:
            e.int(0, 0, 255)  # dims pointer kept
        if n == 0:
            e.int(1, 0, 7)  # a buffer, not null
        e.bytes(contents[:n].ljust(n, b"\0"))
        e.int(1, 0, 15)  # the pointer kept
    return e.data()


x = f32(2, 5, 3).tobytes()
lengths = np.array([5, 3], np.int32).tobytes()
capi = {
    "own-good": (True, [("x", 0, [2, 5, 3], x), ("lengths", 1, [2], lengths), "run"]),
    "call-good": (False, [("x", 0, [2, 5, 3], x), ("lengths", 1, [2], lengths), "run"]),
    "call-short-t": (False, [("x", 0, [2, 2, 3], x), ("lengths", 1, [2], lengths), "run"]),
    "call-bad-length": (False, [("x", 0, [2, 5, 3], x),
                                ("lengths", 1, [2], np.array([9, -1], np.int32).tobytes()), "run"]),
    "own-wrong-features": (True, [("x", 0, [2, 5, 4], x), ("lengths", 1, [2], lengths), "run"]),
    "own-wrong-rank": (True, [("x", 0, [10, 3], x), ("lengths", 1, [2], lengths), "run"]),
    "call-wrong-dtype": (False, [("x", 1, [2, 5, 3], x), ("lengths", 0, [2], lengths), "run"]),
    "call-batch-mismatch": (False, [("x", 0, [2, 5, 3], x), ("lengths", 1, [1], lengths), "run"]),
    "call-empty-batch": (False, [("x", 0, [0, 5, 3], b""), ("lengths", 1, [0], b""), "run"]),
    "call-negative-dim": (False, [("x", 0, [2, -1, 3], x), "run"]),
    "call-huge-dim": (False, [("x", 0, [2**40, 0, 3], b""), ("lengths", 1, [2], lengths), "run"]),
    "own-unknown-name": (True, [("nope", 0, [2], b""), ("y", 0, [1], b""), "run"]),
    "call-missing-input": (False, [("x", 0, [2, 5, 3], x), "run"]),
    "call-bad-dtype": (False, [("x", 5, [2, 5, 3], x), "run"]),
}
for name, (own, steps) in capi.items():
    write("capi", name, capi_seed(own, steps))

print({t: len(os.listdir(os.path.join(out, t))) for t in targets})
