"""Crash safety: SIGKILL `loom train` and `loom run` at random moments.

Usage: kill_test.py LOOM SOURCE_DIR WORK_DIR   (LOOM_KILLS=N, LOOM_KILL_SEED=S to repeat)

Each `loom train` run continues from the checkpoint the last one left (--resume) for a
few dozen more epochs, writing the checkpoint and the history every epoch and the weights
at the end, and is killed at a random moment of its expected run time: while compiling,
training, or writing any of the three. After every kill, each file must be exactly what it
was before the run or a complete new version (every array readable, the history a header
and consecutive epochs, the checkpoint's epoch never going back), and the next run must
resume from it. Stray temporary files (`*.tmp.XXXXXX`) are the only allowed residue; they
show a kill landed mid-write. At the end, a resumed run finishes, and its weights equal
bit for bit those of one uninterrupted run of as many epochs. `loom run` is then killed
while writing a large output the same way.
"""
import csv
import glob
import os
import random
import shutil
import subprocess
import sys
import time

import numpy as np

loom, src, work = sys.argv[1], sys.argv[2], sys.argv[3]
kills = int(os.environ.get("LOOM_KILLS", "50"))
seed = int(os.environ.get("LOOM_KILL_SEED", str(random.randrange(1 << 30))))
rng = random.Random(seed)
print(f"kill_test: seed {seed} (LOOM_KILL_SEED={seed} repeats it), {kills} kills of loom train")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
model = f"{src}/tests/lit/inputs/train_dense.loom"
data = f"{work}/train.npz"
subprocess.check_call([sys.executable, f"{src}/tests/lit/inputs/make_train_data.py", data,
                       "linear", "200", "1"])
weights, ckpt, hist = f"{work}/w.npz", f"{work}/w.ckpt.npz", f"{work}/h.csv"
WEIGHT_KEYS = {"y/kernel", "y/bias"}
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def arrays(path):
    with np.load(path) as z:
        return {k: z[k].copy() for k in z.files}


def ckpt_epoch():
    if not os.path.exists(ckpt):
        return 0
    try:
        return int(arrays(ckpt)["train/epoch"])
    except Exception as e:  # noqa: BLE001 - a checkpoint resume cannot read is the finding
        failures.append(f"{ckpt} cannot be read: {e!r}")
        sys.exit(f"kill_test: FAIL: {failures}; seed {seed}")


def check_complete(path, before, what):
    """`path` is unchanged, or a complete new version. Returns 'same', 'new' or 'none'."""
    now = read(path)
    if now is None:
        if before is not None:
            fail(f"{what}: {path} disappeared")
        return "none"
    if now == before:
        return "same"
    try:
        if path.endswith(".csv"):
            rows = list(csv.reader(now.decode().splitlines()))
            assert rows[0] == ["epoch", "loss", "mae"], rows[0]
            assert [int(r[0]) for r in rows[1:]] == list(range(1, len(rows))), "epochs"
            assert all(len(r) == 3 and all(np.isfinite(float(v)) for v in r) for r in rows[1:])
        else:
            a = arrays(path)
            assert WEIGHT_KEYS <= set(a), sorted(a)
            assert all(np.isfinite(v).all() for v in a.values())
            if path == ckpt:
                assert "train/epoch" in a and "train/history" in a, sorted(a)
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        fail(f"{what}: {path} is neither the previous nor a complete new version: {e!r}")
    return "new"


def strays():
    found = glob.glob(f"{work}/*.tmp.*")
    for f in found:
        os.unlink(f)
    return len(found)


def train(epochs, extra=(), out=weights, history=hist):
    args = [loom, "train", model, "--data", data, "-o", out, "--epochs", str(epochs),
            "--threads", "1", "--checkpoint-every", "1", "--history", history, *extra]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def started(p):
    """Waits until `p` has compiled and begun training (its first progress line)."""
    line = p.stderr.readline()
    return line.startswith(b"Epoch")


# How long compiling and training `step` epochs take, to spread the kills over them.
step = 40
t0 = time.monotonic()
p = train(step, out=f"{work}/calib.npz", history=f"{work}/calib.csv")
started(p)
compile_time = time.monotonic() - t0
p.communicate()
train_time = time.monotonic() - t0 - compile_time
assert p.returncode == 0, "the calibration run failed"

stats = {"killed": 0, "finished": 0, "mid-write (stray temporary files)": 0, "new weights": 0,
         "new checkpoint": 0}
for i in range(kills):
    before = {f: read(f) for f in (weights, ckpt, hist)}
    start = ckpt_epoch()
    p = train(start + step, ["--resume", ckpt] if os.path.exists(ckpt) else [])
    # One kill in ten while loading and compiling, the others while training and writing.
    if rng.random() < 0.1:
        time.sleep(rng.uniform(0, compile_time))
    elif started(p):
        time.sleep(rng.uniform(0, train_time * 1.1))
    p.kill()
    _, err = p.communicate()
    if p.returncode == -9:
        stats["killed"] += 1
    elif p.returncode == 0:
        stats["finished"] += 1
    else:
        fail(f"run {i} (resuming after epoch {start}) failed by itself: {err.decode()}")
    stats["mid-write (stray temporary files)"] += strays()
    if check_complete(weights, before[weights], f"run {i}") == "new":
        stats["new weights"] += 1
    if check_complete(ckpt, before[ckpt], f"run {i}") == "new":
        stats["new checkpoint"] += 1
    check_complete(hist, before[hist], f"run {i}")
    if ckpt_epoch() < start:
        fail(f"run {i}: the checkpoint went back from epoch {start} to {ckpt_epoch()}")

# Resume to the end, then one uninterrupted run of as many epochs: the same weights.
final = ckpt_epoch() + 3
p = train(final, ["--resume", ckpt] if os.path.exists(ckpt) else [])
_, err = p.communicate()
if p.returncode != 0:
    fail(f"the final resumed run failed: {err.decode()}")
p = train(final, out=f"{work}/straight.npz", history=f"{work}/straight.csv")
p.communicate()
a, b = arrays(weights), arrays(f"{work}/straight.npz")
if any(not np.array_equal(a[k], b[k]) for k in WEIGHT_KEYS):
    fail(f"after {final} epochs, the killed and resumed runs' weights differ from one "
         "uninterrupted run's")
if read(hist) != read(f"{work}/straight.csv"):
    fail("the killed and resumed runs' history differs from one uninterrupted run's")

# loom run: killed while computing or writing a 4 MiB output, never a partial one.
x = f"{work}/x.npy"
subprocess.check_call([sys.executable, f"{src}/tests/lit/inputs/make_npy.py", x, "float32",
                       "16", "1024", "5"])
rnn = f"{src}/examples/shapes/simple_rnn.loom"
rw = f"{work}/rnn.npz"
subprocess.check_call([loom, "init", rnn, "-o", rw, "--seed", "1"], stdout=subprocess.DEVNULL)
y = f"{work}/y.npz"
args = [loom, "run", rnn, "--weights", rw, "--input", f"x={x}", "-o", y, "--threads", "1"]
t0 = time.monotonic()
subprocess.check_call(args, stdout=subprocess.DEVNULL)
run_duration = time.monotonic() - t0
os.unlink(y)
run_kills = max(1, kills // 10)
for i in range(run_kills):
    before = read(y)
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(rng.uniform(run_duration * 0.5, run_duration * 1.1))
    p.kill()
    p.communicate()
    stats["mid-write (stray temporary files)"] += strays()
    now = read(y)
    if now is not None and now != before:
        try:
            assert arrays(y)["y"].shape == (16, 1024, 64)
        except Exception as e:  # noqa: BLE001
            fail(f"loom run {i}: {y} is partial: {e!r}")

print("kill_test:", ", ".join(f"{k} {v}" for k, v in stats.items()),
      f"; {run_kills} kills of loom run")
if failures:
    sys.exit(f"kill_test: {len(failures)} failure(s); seed {seed}")
print("kill_test: OK")
