"""The bad-input catalogue: malformed inputs a user or another program can hand loom.

Each case: a name, a kind, the files it writes into its own directory (text, bytes, or a
function of the path that writes them with numpy), the loom command (`{d}` is the case's
directory, `{src}` the source tree, `{fx}` the shared fixtures: `w.npz`, weights of
examples/shapes/simple_rnn.loom, and `x.npy`, a good f32 (2, 4, 5) input for it), the
exit status, the message stderr must contain (`{d}` substituted), and the files that must
not exist afterwards (nothing half-written). tests/badinputs/run.py runs them;
`run.py --list` prints the table in docs/reliability.md.
"""
import numpy as np

RNN = "{src}/examples/shapes/simple_rnn.loom"
REBER = "{src}/examples/layers/reber.loom"
DENSE_TRAIN = "{src}/tests/lit/inputs/train_dense.loom"
SPARSE_TRAIN = "{src}/tests/lit/inputs/train_sparse.loom"


def npy(arr, **kw):
    return lambda p: np.save(p, arr, **kw)


def npz(**arrays):
    return lambda p: np.savez(p, **arrays)


def header(descr, shape, data=b"", fortran=False, version=(1, 0)):
    def write(p):
        with open(p, "wb") as f:
            np.lib.format._write_array_header(
                f, {"descr": descr, "fortran_order": fortran, "shape": shape}, version)
            f.write(data)
    return write


def run_rnn(*extra, weights="{fx}/w.npz", x="x={fx}/x.npy"):
    args = ["run", RNN, "--weights", weights, "-o", "{d}/y.npz"]
    if x:
        args += ["--input", x]
    return args + list(extra)


X = np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32)
CASES = []


def case(name, kind, argv, err, files=None, exit=1, absent=("y.npz",)):
    CASES.append(dict(name=name, kind=kind, argv=argv, err=err, files=files or {}, exit=exit,
                      absent=list(absent)))


def model(name, src, err, absent=()):
    case(name, "model file", ["check", "{d}/m.loom"], err, {"m.loom": src}, absent=absent)


# ----- model files: file:line:col, the line and a caret -----
model("model-unclosed-paren", "model m(x: f32[B, 5] -> (y) {\n  y = dense(x, units=3)\n}\n",
      "m.loom:1:22: error: expected ')' after parameters, found '->'")
model("model-unknown-layer", "model m(x: f32[B, 5]) -> (y) {\n  y = dense2(x, units=3)\n}\n",
      "m.loom:2:7: error: unknown name 'dense2' (did you mean 'dense'?)")
model("model-unknown-argument", "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, unitz=3)\n}\n",
      "m.loom:2:16: error: dense has no argument 'unitz' (did you mean 'units'?)")
model("model-units-zero", "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=0)\n}\n",
      "m.loom:2:7: error: units must be a positive integer, got 0")
model("model-units-negative", "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=-3)\n}\n",
      "m.loom:2:7: error: units must be a positive integer, got -3")
model("model-units-huge",
      "model m(x: f32[B, T, 5]) -> (y) {\n  y = simple_rnn(x, units=1000000000)\n}\n",
      "m.loom:2:7: error: a weight of shape [1000000000, 1000000000] has more than 2^46 elements")
model("model-undefined-name", "model m(x: f32[B, 5]) -> (y) {\n  y = dense(z, units=3)\n}\n",
      "m.loom:2:13: error: unknown name 'z' (did you mean 'x'?)")
model("model-output-never-assigned", "model m(x: f32[B, 5]) -> (y, z) {\n  y = dense(x, units=3)\n}\n",
      "m.loom:1:30: error: output 'z' is never assigned in model m")
model("model-empty-file", "", "m.loom: error: no model declared")
model("model-binary-garbage", b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe{}()\x00",
      "m.loom:1:1: error: unexpected character '\\x7f'")
model("model-unterminated-string",
      "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=3, activation=\"tanh)\n}\n",
      "m.loom:2:36: error: unterminated string")
model("model-stray-character", "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=3) $\n}\n",
      "m.loom:2:25: error: unexpected character '$'")
model("model-integer-too-large",
      "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=99999999999999999999999)\n}\n",
      "m.loom:2:22: error: integer '99999999999999999999999' is too large")
model("model-symbolic-weight-shape",
      "def f(x) {\n  w = param([T, 4])\n  return x\n}\n"
      "model m(x: f32[B, T, 4]) -> (y) {\n  y = f(x)\n}\n", "m.loom:2:14: error: unknown name 'T'")
model("model-unknown-activation",
      "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=3, activation=sparkle)\n}\n",
      "m.loom:2:36: error: unknown name 'sparkle'")
model("model-wrong-argument-type",
      "model m(x: f32[B, T, 5]) -> (y) {\n  y = lstm(x, units=3, return_sequences=\"yes\")\n}\n",
      "m.loom:2:24: error: argument 'return_sequences' of lstm must be bool, got string \"yes\"")
model("model-rank-mismatch",
      "model m(x: f32[B, 5]) -> (y) {\n  y = lstm(x, units=3)\n}\n",
      "m.loom:2:12: error: argument 'x' of lstm must be f32[B,T,I], got f32[B,5] (rank 2, expected 3)")
model("model-deep-nesting",
      "model m(x: f32[B, 5]) -> (y) {\n  y = " + "(" * 20000 + "x" + ")" * 20000 + "\n}\n",
      "m.loom:2:262: error: expression or block nested too deeply (the limit is 256 levels)")
model("model-integer-overflow",
      "model m(x: f32[B, 5]) -> (y) {\n  y = dense(x, units=4611686018427387904 * 4)\n}\n",
      "m.loom:2:42: error: integer overflow: 4611686018427387904 * 4 does not fit in 64 bits")
model("model-unknown-dtype", "model m(x: f64[B, 5]) -> (y) {\n  y = dense(x, units=3)\n}\n",
      "m.loom:1:12: error: expected a type (f32[...], i32[...], int, float, bool, str, fn or cell), found identifier 'f64'")
model("model-no-model", "def f(x) {\n  return x\n}\n", "m.loom: error: no model declared")
case("model-missing-file", "model file", ["check", "{d}/nope.loom"], "cannot read '{d}/nope.loom'")
case("model-is-a-directory", "model file", ["check", "{d}"], "cannot read '{d}': it is a directory")
case("model-unknown-model-name", "model file", ["check", RNN, "--model", "other"], "simple_rnn.loom: error: no model named 'other'")

# ----- IR text -----
def ir(name, src, err):
    case(name, "IR text", ["ir", "{d}/f.lir"], err, {"f.lir": src}, absent=())


ir("ir-unknown-op", "func @f(%x: f32[2]) -> (y) {\n  %a = frob %x : f32[2]\n  return %a\n}\n",
   "f.lir:2:8: error: unknown op 'frob'")
ir("ir-undefined-value",
   "func @f(%x: f32[2]) -> (y) {\n  %a = add %x, %z : f32[2]\n  return %a\n}\n",
   "f.lir:2:16: error: use of undefined value '%z'")
ir("ir-type-mismatch",
   "func @f(%x: f32[2], %y: f32[3]) -> (y) {\n  %a = add %x, %y : f32[2]\n  return %a\n}\n",
   "f.lir: verifier: `%a = add %x, %y : f32[2]` in @f: shapes [2] and [3] do not broadcast")
ir("ir-unknown-dtype", "func @f(%x: f64[2]) -> (y) {\n  return %x\n}\n",
   "f.lir:1:13: error: unknown element type 'f64' (expected f32 or i32)")
ir("ir-missing-return", "func @f(%x: f32[2]) -> (y) {\n  %a = neg %x : f32[2]\n}\n",
   "f.lir: verifier: `%a = neg %x : f32[2]` in @f: missing terminator; this block must end with `return`")
ir("ir-truncated", "func @f(%x: f32[2]) -> (y) {\n  %a = neg %x : f3",
   "f.lir:2:17: error: unknown element type 'f3' (expected f32 or i32)")
ir("ir-redefinition",
   "func @f(%x: f32[2]) -> (y) {\n  %x = neg %x : f32[2]\n  return %x\n}\n",
   "f.lir:2:3: error: redefinition of value '%x'")
ir("ir-binary-garbage", b"\x00\x01\x02\xff\xfe", "f.lir:1:1: error: unexpected character")
ir("ir-wrong-arity", "func @f(%x: f32[2]) -> (y) {\n  %a = neg %x, %x : f32[2]\n  return %a\n}\n",
   "f.lir:2:8: error: 'neg' takes 1 operand(s), got 2")
ir("ir-bad-attribute",
   "func @f(%x: f32[2, 3]) -> (y) {\n  %a = reduce_sum %x {axis = 7, keepdims = false} : f32[2]\n"
   "  return %a\n}\n", "f.lir: verifier: `%a = reduce_sum %x {axis = 7, keepdims = false} : f32[2]` in "
   "@f: reduce_sum axis 7 out of range for f32[2,3]")

# Found by fuzz_ir: a constant dimension expression overflowing int64 was folded with
# signed overflow (undefined behaviour).
ir("ir-dim-overflow", "func @f(%x: f32[6 * 4307442843600581062]) -> (y) {\n  return %x\n}\n",
   "f.lir:1:40: error: dimension expression overflows int64")

# ----- weights -----
W_OK = {"y/kernel": np.zeros((5, 64), np.float32), "y/recurrent_kernel": np.zeros((64, 64), np.float32),
        "y/bias": np.zeros(64, np.float32)}


def weights(name, files, err, w="{d}/w.npz"):
    case(name, "weights", run_rnn(weights=w), err, files)


weights("weights-missing-key", {"w.npz": npz(**{k: v for k, v in W_OK.items() if k != "y/bias"})},
        "w.npz: weight 'y/bias' is missing")
weights("weights-extra-key", {"w.npz": npz(**W_OK, **{"z/kernel": np.zeros(1, np.float32)})},
        "w.npz: has 'z/kernel', which is not a weight of model simple_rnn")
weights("weights-wrong-shape", {"w.npz": npz(**{**W_OK, "y/kernel": np.zeros((5, 32), np.float32)})},
        "weight 'y/kernel': expected f32[5,64], got f32 (5, 32) (dim 1 is 32, expected 64)")
weights("weights-wrong-dtype", {"w.npz": npz(**{**W_OK, "y/bias": np.zeros(64, np.int32)})},
        "weight 'y/bias': expected f32[64], got i32 (64,)")
weights("weights-not-a-zip", {"w.npz": "these are not weights\n"}, "w.npz: not a zip archive")
weights("weights-empty-file", {"w.npz": b""}, "w.npz: empty file, not an .npz archive")
weights("weights-truncated", {"w.npz": lambda p: (np.savez(p, **W_OK), open(p, "r+b").truncate(100))},
        "w.npz: not a zip archive (an .npz file is one)")
weights("weights-member-not-npy", {"w.npz": lambda p: __import__("zipfile").ZipFile(p, "w").writestr(
    "readme.txt", "hello")}, "w.npz: member 'readme.txt': not a .npy array")
weights("weights-complex-dtype", {"w.npz": npz(**{**W_OK, "y/bias": np.zeros(64, np.complex64)})},
        "w.npz: member 'y/bias.npy': unsupported dtype '<c8'")
weights("weights-missing-file", {}, "nope.npz: cannot open: No such file or directory",
        w="{d}/nope.npz")
weights("weights-nan-free-but-object", {"w.npz": lambda p: np.savez(
    p, **{**W_OK, "y/bias": np.array([None] * 64, dtype=object)})},
    "w.npz: member 'y/bias.npy': unsupported dtype '|O'")

# ----- data: inputs -----
def data(name, files, err, x="x={d}/x.npy", extra=()):
    case(name, "data", run_rnn(*extra, x=x), err, files)


data("input-wrong-features", {"x.npy": npy(np.zeros((2, 4, 6), np.float32))},
     "input 'x': expected f32[B,T,5], got f32 (2, 4, 6) (dim 2 is 6, expected 5)")
data("input-wrong-rank", {"x.npy": npy(np.zeros((2, 5), np.float32))},
     "input 'x': expected f32[B,T,5], got f32 (2, 5) (rank is 2, expected 3)")
data("input-wrong-dtype", {"x.npy": npy(np.zeros((2, 4, 5), np.int32))},
     "input 'x': expected f32[B,T,5], got i32 (2, 4, 5) (element type is i32)")
data("input-missing", {}, "missing input 'x' (f32[B,T,5]): pass --input x=FILE.npy", x=None)
data("input-unknown-name", {"x.npy": npy(X)}, "--input: 'z' is not an input of model simple_rnn",
     x="z={d}/x.npy")
data("input-no-equals", {"x.npy": npy(X)}, "--input takes NAME=FILE.npy, got '{d}/x.npy'",
     x="{d}/x.npy")
data("input-truncated-npy", {"x.npy": lambda p: (np.save(p, X), open(p, "r+b").truncate(140))},
     "x.npy: data is 12 bytes, shape (2, 4, 5) needs 160")
data("input-truncated-header", {"x.npy": lambda p: (np.save(p, X), open(p, "r+b").truncate(100))},
     "x.npy: truncated .npy header: it claims 118 bytes, the file has 90 after the preamble")
data("input-header-claims-1e12", {"x.npy": header("<f4", (1000000, 1000000), b"\0" * 8)},
     "x.npy: data is 8 bytes, shape (1000000, 1000000) needs 4000000000000")
data("input-time-axis-1e9", {"x.npy": header("<f4", (1, 1000000000, 5), b"\0" * 8)},
     "x.npy: data is 8 bytes, shape (1, 1000000000, 5) needs 20000000000")
data("input-bad-magic", {"x.npy": b"NUMPY\x01\x00" + b"\0" * 64},
     "x.npy: not a .npy file")
data("input-version-4", {"x.npy": lambda p: (np.save(p, X), _patch(p, 6, b"\x04"))},
     "x.npy: unsupported .npy format version 4.0 (loom reads 1.0, 2.0 and 3.0)")
data("input-complex", {"x.npy": npy(X.astype(np.complex64))}, "x.npy: unsupported dtype '<c8'")
data("input-strings", {"x.npy": npy(np.array(["a", "b"]))}, "x.npy: unsupported dtype '<U1'")
data("input-malformed-header", {"x.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'  \n"},
     "x.npy: malformed .npy header")
data("input-negative-dim", {"x.npy": b"\x93NUMPY\x01\x00\x3a\x00"
                                     b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n"},
     "x.npy: malformed .npy header: negative dimension in 'shape'")
data("input-i8-out-of-range",
     {"x.npy": npy(np.array([[[5_000_000_000] * 5] * 4] * 2, np.int64))},
     "x.npy: i8 value 5000000000 at flat index 0 does not fit in i32")
data("inputs-npz-unknown-array", {"in.npz": npz(q=X)}, "in.npz: 'q' is not an input of model simple_rnn",
     x=None, extra=("--inputs", "{d}/in.npz"))
data("inputs-npz-empty", {"in.npz": npz()}, "missing input 'x' (f32[B,T,5])", x=None,
     extra=("--inputs", "{d}/in.npz"))
case("input-token-out-of-range", "data",
     ["run", REBER, "--weights", "{d}/w.npz", "--input", "x={d}/x.npy", "-o", "{d}/y.npz"],
     "token id: 9 at [0, 3] is outside [0, 7]", {"w.npz": "@init " + REBER, "x.npy": npy(np.array([[1, 2, 3, 9]], np.int32))})

# ----- training data and checkpoints -----
TD = {"x": np.zeros((10, 3), np.float32), "t": np.zeros((10, 1), np.float32)}


def train(name, files, err, extra=(), model=DENSE_TRAIN):
    case(name, "training data",
         ["train", model, "--data", "{d}/d.npz", "-o", "{d}/out.npz", "--threads", "1", *extra],
         err, files, absent=("out.npz",))


train("train-missing-target", {"d.npz": npz(x=TD["x"])}, "d.npz: missing array 't' (the model's target f32[B,1]); it must hold x, t")
train("train-unknown-array", {"d.npz": npz(**TD, extra=TD["t"])}, "d.npz: unknown array 'extra'; the model expects x, t")
train("train-row-mismatch", {"d.npz": npz(x=TD["x"], t=np.zeros((9, 1), np.float32))},
      "d.npz: array 't' has 9 rows but 'x' has 10")
train("train-no-rows", {"d.npz": npz(x=np.zeros((0, 3), np.float32), t=np.zeros((0, 1), np.float32))},
      "d.npz: the arrays have no rows (N is 0)")
train("train-wrong-feature-dim", {"d.npz": npz(x=np.zeros((10, 4), np.float32), t=TD["t"])},
      "d.npz: array 'x' has shape [10,4] but the model expects [B,3]")
train("train-scalar-array", {"d.npz": npz(x=np.float32(1), t=TD["t"])}, "d.npz: array 'x' has shape [] but the model expects [B,3]")
train("train-label-out-of-range",
      {"d.npz": npz(x=TD["x"], label=np.full(10, 7, np.int32))}, "d.npz: array 'label': label 7 at [0] is outside [0, 3] (the model has 4 classes)",
      model=SPARSE_TRAIN)
train("train-resume-missing", {"d.npz": npz(**TD)}, "nope.npz: cannot open: No such file or directory",
      extra=("--resume", "{d}/nope.npz"))
train("train-resume-not-a-checkpoint", {"d.npz": npz(**TD), "c.npz": npz(**TD)}, "c.npz: not a training checkpoint: it has no 'train/epoch'",
      extra=("--resume", "{d}/c.npz"))
train("train-data-is-output", {"d.npz": npz(**TD)}, "would be overwritten by an output",
      extra=("--history", "{d}/d.npz"))

# ----- command line -----
def cli(name, argv, err, exit=1, absent=("y.npz",)):
    case(name, "command line", argv, err, exit=exit, absent=absent)


cli("cli-unknown-command", ["frobnicate"], "loom: error: unknown command 'frobnicate' (the commands: check")
cli("cli-unknown-option", run_rnn("--frob"), "The following argument was not expected: --frob", exit=109)
cli("cli-threads-zero", run_rnn("--threads", "0"), "--threads: must be a whole number of 1 or more, got '0'",
    exit=105)
cli("cli-epochs-zero", ["train", DENSE_TRAIN, "--data", "{d}/d.npz", "-o", "{d}/o.npz", "--epochs", "0"],
    "--epochs: must be a whole number of 1 or more, got '0'", exit=105, absent=("o.npz",))
cli("cli-max-memory-not-a-size", run_rnn("--max-memory", "lots"),
    "--max-memory: 'lots' is not a size like 4G, 512M or 1000000", exit=105)
cli("cli-run-without-output", ["run", RNN, "--weights", "{fx}/w.npz", "--input", "x={fx}/x.npy"],
    "--output is required", exit=106)
cli("cli-bad-unroll", run_rnn("--unroll", "sideways"),
    "--unroll: 'sideways' is not none, full or a step count (1 or more)", exit=105)
cli("cli-output-dir-missing", ["run", RNN, "--weights", "{fx}/w.npz", "--input", "x={fx}/x.npy",
                               "-o", "{d}/no/such/dir/y.npz"],
    "no/such/dir/y.npz: cannot create temporary file")
cli("cli-max-memory-too-small", run_rnn("--max-memory", "1K"),
    "w.npz: reading it needs 18642 bytes, more than the memory limit of 1024 bytes (--max-memory)")
cli("cli-no-command", [], "A subcommand is required", exit=106)


def _patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


# ----- AOT calls (tests/badinputs/aot_call.c: reber compiled with --weights-file) -----
# The exit status is the call's loom_aot_status: 1 a null argument, 2 a bad size, 3 the
# weights, 4 found while running.
REBER_W = {"e/embeddings": (8, 4), "h/kernel": (4, 300), "h/recurrent_kernel": (100, 300),
           "h/bias": (2, 300), "y/kernel": (100, 1), "y/bias": (1,)}


def reber_weights(**changes):
    """reber's weights as zeros, with some keys replaced (an array) or dropped (None)."""
    arrays = {k: np.zeros(s, np.float32) for k, s in REBER_W.items()}
    for k, v in changes.items():
        k = k.replace("__", "/")
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    return npz(**arrays)


def aot(name, files, ops, err, exit, weights="{d}/w.npz"):
    case(name, "AOT call", ["{aot}", weights, *ops], err, files, exit=exit, absent=())


GOOD = {"w.npz": reber_weights()}
aot("aot-weights-file-missing", {}, [], "nope.npz: cannot open: No such file or directory", 3,
    weights="{d}/nope.npz")
aot("aot-weights-path-null", {}, [], "model reber loads its weights from a file: the weights path is null", 1,
    weights="null")
aot("aot-weights-not-npz", {"w.npz": b"not a zip"}, [], "w.npz: not a zip archive", 3)
aot("aot-weight-mis-shaped", {"w.npz": reber_weights(h__kernel=np.zeros((4, 200), np.float32))}, [],
    "weights file '{d}/w.npz': weight 'h/kernel' is f32 (4, 200), expected f32[4,300]", 3)
aot("aot-weight-wrong-rank", {"w.npz": reber_weights(h__bias=np.zeros(600, np.float32))}, [],
    "weight 'h/bias' is f32 (600,), expected f32[2,300]", 3)
aot("aot-weight-wrong-dtype", {"w.npz": reber_weights(y__bias=np.zeros(1, np.int32))}, [],
    "weight 'y/bias' is i32 (1,), expected f32[1] (element type differs)", 3)
aot("aot-weight-missing", {"w.npz": reber_weights(y__bias=None)}, [],
    "weight 'y/bias' (f32[1]) of model reber is missing", 3)
aot("aot-weight-extra", {"w.npz": reber_weights(z__kernel=np.zeros(3, np.float32))}, [],
    "has 'z/kernel', which is not a weight of model reber", 3)
aot("aot-size-zero", GOOD, ["run:0,5"], "size B is 0; every size must be at least 1 (B = 0, T = 5)", 2)
aot("aot-size-negative", GOOD, ["run:2,-3"], "size T is -3; every size must be at least 1", 2)
aot("aot-input-null", GOOD, ["run:2,5:null-x"], "input 'x' (i32[B,T]) is a null pointer", 1)
aot("aot-output-null", GOOD, ["run:2,5:null-y"], "output 'y' (f32[B,1]) is a null pointer", 1)
aot("aot-sizes-null", GOOD, ["run:2,5:null-sizes"], "the sizes array is null", 1)
aot("aot-token-out-of-range", GOOD, ["run:2,5:token=9"], "e: token id: 9 at [0, 0] is outside [0, 7]", 4)
aot("aot-shape-dim-zero", GOOD, ["shape:0,5"], "input 'x': expected i32[B,T], got (0, 5) (dim 0 is 0, but B must be at least 1)", 2)

# ----- C API calls (tests/badinputs/capi_call.c, on simple_rnn) -----
# The exit status is the call's loom_status: 1 an invalid argument, 2 compiling, 3 a file,
# 4 the weights, 5 an input, 8 outputs before a run.


def capi(name, ops, err, exit, files=None, model=RNN):
    case(name, "C API call", ["{capi}", model, *ops], err, files, exit=exit, absent=())


W = "weights:{fx}/w.npz"
capi("capi-model-missing", [], "i/o error: cannot read '{d}/nope.loom'", 3, model="{d}/nope.loom")
capi("capi-wrong-rank", [W, "in:x:f32:10,5", "run"], "input 'x': expected f32[B,T,5], got f32 (10, 5) (rank is 2, expected 3)", 5)
capi("capi-wrong-shape", [W, "in:x:f32:2,4,6", "run"], "input 'x': expected f32[B,T,5], got f32 (2, 4, 6) (dim 2 is 6, expected 5)", 5)
capi("capi-wrong-dtype", [W, "in:x:i32:2,4,5", "run"], "input 'x': expected f32[B,T,5], got i32 (2, 4, 5)", 5)
capi("capi-bad-dtype", [W, "in:x:7:2,4,5"], "loom_model_set_input: 'x': dtype 7 is neither LOOM_F32 nor LOOM_I32", 1)
capi("capi-negative-dtype", [W, "in:x:-1:2,4,5"], "loom_model_set_input: 'x': dtype -1 is neither LOOM_F32 nor LOOM_I32", 1)
capi("capi-rank-out-of-range", [W, "in:x:f32:rank/65"], "loom_model_set_input: 'x': rank 65 is out of range", 1)
capi("capi-negative-dim", [W, "in:x:f32:2,-4,5", "run"], "invalid argument: input 'x': dim 1 is -4 (dims cannot be negative)", 1)
capi("capi-null-name", [W, "in:null:f32:2,4,5"], "loom_model_set_input: name is null", 1)
capi("capi-null-data", [W, "in:x:f32:2,4,5:null-data"], "loom_model_set_input: input 'x': data is null", 1)
capi("capi-null-dims", [W, "in:x:f32:null/3"], "loom_model_set_input: dims is null", 1)
capi("capi-unknown-input", [W, "in:z:f32:2"], "'z' is not an input of model simple_rnn (its inputs: x: f32[B,T,5])", 5)
capi("capi-missing-input", [W, "run"], "missing input 'x'", 5)
capi("capi-weights-missing-file", ["weights:{d}/nope.npz"], "nope.npz: cannot open: No such file or directory", 3)
capi("capi-weights-path-null", ["weights:null"], "loom_model_load_weights: npz_path is null", 1)
capi("capi-weights-mis-shaped", ["weights:{d}/w.npz"],
     "weight 'y/kernel': expected f32[5,64], got f32 (5, 32)", 4,
     files={"w.npz": npz(**{"y/kernel": np.zeros((5, 32), np.float32),
                            "y/recurrent_kernel": np.zeros((64, 64), np.float32),
                            "y/bias": np.zeros(64, np.float32)})})
capi("capi-run-without-weights", ["in:x:f32:2,4,5", "run"],
     "weights error: weight 'y/kernel' has no value: load the weights first", 4)
capi("capi-output-before-run", [W, "out:y"], "output 'y': the model has not run successfully yet", 8)
capi("capi-unknown-output", [W, "in:x:f32:2,4,5", "run", "out:z"], "'z' is not an output of model simple_rnn (its outputs: y)", 1)
