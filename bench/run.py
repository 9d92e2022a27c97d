#!/usr/bin/python3
"""loom benchmark harness: loom vs oneDNN's RNN primitives vs PyTorch, in one run.

    /usr/bin/python3 bench/run.py [--build DIR] [--passes N] [--threads 1,2] [--only S1,S4]
                                  [--modes inference,training] [--quick] [--wait-quiet]
                                  [--out FILE]

Builds nothing: expects `loom` (DIR/tools/loom) and `onednn_rnn_bench`
(DIR/bench/onednn_rnn_bench) in the build directory (default: ./build of the repository).
For every shape and thread count it runs the peers one after the other (interleaved), over
several passes (the order of the peers rotates from pass to pass), and writes
bench/RESULTS.md. Inference times one forward call; training times one training step (loom
`bench --train` with the models' train blocks, oneDNN forward_training + backward, PyTorch
forward + mse + backward + SGD step). Each peer is a separate process that prints one line of JSON with the
median / p10 / p90 of its timed calls; the tables show the median over passes of those
medians, and each ratio is the median over passes of the ratio measured within a pass (so a
drift of the machine during the run affects both sides of a ratio alike).
No numpy needed; see bench/README.md.
"""
import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = os.path.join(HERE, "models")
PYTHON = "/usr/bin/python3"
ANALYSIS_BEGIN = "<!-- BEGIN ANALYSIS (kept by run.py when it rewrites this file) -->"
ANALYSIS_END = "<!-- END ANALYSIS -->"

# name, cell, B, T, I, H, loom model, iters, warmup
SHAPES = [
    ("S1", "gru", 32, 12, 4, 100, "s1_gru.loom", 200, 20),
    ("S2", "lstm", 32, 12, 128, 128, "s2_lstm.loom", 200, 20),
    ("S3", "lstm", 32, 30, 1, 64, "s3_lstm.loom", 200, 20),
    ("S4", "lstm", 64, 50, 512, 512, "s4_lstm.loom", 10, 2),
    ("S4", "gru", 64, 50, 512, 512, "s4_gru.loom", 10, 2),
    ("S5", "lstm", 1, 100, 256, 256, "s5_lstm.loom", 100, 10),
]
# Training: timed steps and warmup per process (a step is ~3x an inference call; S4 ~0.5 s).
TRAIN_ITERS = {"S1": (100, 10), "S2": (100, 10), "S3": (100, 10), "S4": (5, 1), "S5": (40, 4)}
PEEPHOLE_MODEL = "s4_peephole.loom"  # timed in the S4 LSTM group, against the built-in LSTM
COMPILE_T = [50, 500, 5000]          # bench/models/s4_lstm_t{T}.loom, static T
PEAK_PER_CORE = 96                   # f32 GFLOP/s: 2 FMA units x 8 lanes x 2 flops x ~3 GHz
COMPILE_BATCH = 4                    # the compiled code does not depend on B (symbolic)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def flops(cell, B, T, I, H, train=False):
    """Forward: 2·B·T·G·H·(I+H). Training: 3× that (the backward's data and weight gradients
    each cost one forward's GEMM work), the same count for every peer."""
    G = 4 if cell == "lstm" else 3
    return (3.0 if train else 1.0) * 2.0 * B * T * G * H * (I + H)


def loom_train_flops(cell, B, T, I, H):
    """The GEMM work of loom's training step: forward, the recurrent data gradient (dh·Uᵀ) and
    the weight gradients, but no gradient for the input x (inputs are not differentiated)."""
    G = 4 if cell == "lstm" else 3
    return 2.0 * B * T * G * H * (2 * (I + H) + H)


def run_json(cmd, env_extra=None, timeout=900):
    """Runs cmd; returns (dict, None) from the last JSON line of stdout, or (None, error)."""
    env = dict(os.environ)
    if env_extra:
        env.update(env_extra)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % timeout
    except OSError as e:
        return None, str(e)
    lines = [l for l in p.stdout.splitlines() if l.strip().startswith("{")]
    if p.returncode != 0 or not lines:
        err = (p.stderr.strip() or p.stdout.strip()).splitlines()
        return None, "exit %d: %s" % (p.returncode, err[-1] if err else "no output")
    try:
        return json.loads(lines[-1]), None
    except ValueError as e:
        return None, "bad JSON (%s): %s" % (e, lines[-1])


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, timeout=60).stdout.strip()
    except Exception:
        return ""


def machine_info(torch_version, loom_binary):
    lscpu = sh("lscpu")
    field = lambda name: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                               if l.startswith(name + ":")), "?")
    flags = set(field("Flags").split())
    simd = ["avx2" if "avx2" in flags else "no avx2", "fma" if "fma" in flags else "no fma"]
    avx512 = sorted(f for f in flags if f.startswith("avx512"))
    simd.append(("avx512: " + " ".join(avx512)) if avx512 else "no avx512")
    mem = sh("free -g | awk '/^Mem:/ {print $2}'")
    git = sh("cd %s && git rev-parse --short HEAD" % shlex.quote(ROOT))
    dirty = sh("cd %s && git status --porcelain --untracked-files=no | head -1" % shlex.quote(ROOT))
    return [
        ("CPU", "%s (%s CPU(s), %s core(s) per socket, %s)" % (
            field("Model name"), field("CPU(s)"), field("Core(s) per socket"),
            field("Hypervisor vendor") + " guest" if field("Hypervisor vendor") != "?" else "bare metal")),
        ("SIMD", ", ".join(simd)),
        ("Caches", "L1d %s, L2 %s, L3 %s" % (field("L1d cache"), field("L2 cache"), field("L3 cache"))),
        ("Memory", "%s GiB" % mem if mem else "?"),
        ("OS", "%s, kernel %s" % (sh(". /etc/os-release && echo $PRETTY_NAME") or "?", platform.release())),
        ("oneDNN", dnnl_version()),
        ("PyTorch", torch_version or "not available to /usr/bin/python3"),
        ("loom", "git %s%s; binary %s" % (git or "?", " + uncommitted changes" if dirty else "",
                                          loom_binary)),
    ]


def dnnl_version():
    try:
        text = open("/usr/include/oneapi/dnnl/dnnl_version.h").read()
        v = [re.search(r"DNNL_VERSION_%s (\d+)" % k, text).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
        return ".".join(v)
    except Exception:
        return "?"


def torch_version():
    try:
        p = subprocess.run([PYTHON, "-c", "import torch; print(torch.__version__)"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=120)
        return p.stdout.strip() if p.returncode == 0 else None
    except Exception:
        return None


def cpu_busy(seconds=2.0):
    """Fraction of all CPUs busy (user+system+...) over `seconds`, while this harness idles."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    t1, i1 = snap()
    time.sleep(seconds)
    t2, i2 = snap()
    return 1.0 - (i2 - i1) / max(1, t2 - t1)


QUIET = {"waited_s": 0.0, "busy": [], "waits": 0, "checks": 0}


def wait_quiet(limit, max_wait=900):
    """Waits (up to max_wait s) until the other work on the machine uses < limit of its CPUs.
    The 1-minute load average cannot tell: it counts this harness's own benchmark threads."""
    start = time.time()
    QUIET["checks"] += 1
    waited = False
    while True:
        b = cpu_busy()
        if b < limit or time.time() - start > max_wait:
            QUIET["busy"].append(b)
            if waited:
                QUIET["waits"] += 1
                QUIET["waited_s"] += time.time() - start
            return b
        waited = True
        log("  machine busy (%.0f%% of the CPUs used by other work): waiting 15 s" % (100 * b))
        time.sleep(15)


class Results:
    """samples[key] = list of per-pass dicts (or None for a failure); errors[key] = messages."""

    def __init__(self):
        self.samples = {}
        self.errors = {}
        self.ratios = {}

    def add(self, key, res, err):
        self.samples.setdefault(key, []).append(res)
        if err:
            self.errors.setdefault(key, []).append(err)

    def med(self, key, field="median_ms"):
        xs = [r[field] for r in self.samples.get(key, []) if r and field in r]
        return statistics.median(xs) if xs else None

    def ratio(self, num, den):
        """Median over passes of num/den measured in the same pass."""
        a, b = self.samples.get(num, []), self.samples.get(den, [])
        xs = [x["median_ms"] / y["median_ms"] for x, y in zip(a, b) if x and y]
        return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory with tools/loom and bench/onednn_rnn_bench (default ./build)")
    ap.add_argument("--loom", help="the loom binary (default BUILD/tools/loom)")
    ap.add_argument("--onednn", help="onednn_rnn_bench (default BUILD/bench/onednn_rnn_bench)")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--only", default="", help="comma-separated shapes, e.g. S1,S4 (default: all)")
    ap.add_argument("--quick", action="store_true", help="few iterations, one pass: a smoke test")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--no-compile-table", action="store_true")
    ap.add_argument("--modes", default="inference,training",
                    help="comma-separated: inference, training (default both)")
    ap.add_argument("--wait-quiet", type=float, default=0.25, metavar="FRACTION",
                    help="before each shape and thread count, wait (up to 15 min) until other "
                         "work uses less than FRACTION of the CPUs (default 0.25; 1 = never wait)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    a = ap.parse_args()
    if a.quick:
        a.passes = 1
    threads = [int(t) for t in a.threads.split(",") if t]
    a.modes = set(m.strip() for m in a.modes.split(",") if m.strip())
    if not a.modes or a.modes - {"inference", "training"}:
        sys.exit("run.py: --modes takes inference, training or both")
    only = set(s.strip().upper() for s in a.only.split(",") if s.strip())

    loom = a.loom or os.path.join(a.build, "tools", "loom")
    dnnl = a.onednn or os.path.join(a.build, "bench", "onednn_rnn_bench")
    for exe in (loom, dnnl):
        if not os.access(exe, os.X_OK):
            sys.exit("run.py: %s not found: build the project first (cmake --build %s)" % (exe, a.build))
    # Snapshot the binaries: a rebuild during the run must not change what is measured.
    snap = tempfile.mkdtemp(prefix="loom-bench-")
    atexit.register(shutil.rmtree, snap, True)
    for exe in (loom, dnnl):
        shutil.copy2(exe, snap)
    loom, dnnl = (os.path.join(snap, os.path.basename(e)) for e in (loom, dnnl))
    help_text = subprocess.run([loom, "bench", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True).stdout
    a.has_unroll = "--unroll" in help_text
    binary_time = datetime.datetime.fromtimestamp(os.path.getmtime(loom)).strftime("%Y-%m-%d %H:%M")
    a.loom_binary = "%s (built %s)" % (a.loom or os.path.relpath(os.path.join(a.build, "tools", "loom"), ROOT),
                                       binary_time)
    tv = None if a.no_torch else torch_version()
    if not a.no_torch and not tv:
        log("PyTorch not importable by %s: PyTorch columns stay empty" % PYTHON)

    shapes = [s for s in SHAPES if not only or s[0] in only]
    res = Results()   # inference
    tres = Results()  # training
    load_start = os.getloadavg()
    started = datetime.datetime.now()
    t0 = time.time()

    def iters_for(it, wu):
        return (max(3, it // 10), min(wu, 2)) if a.quick else (it, wu)

    def measure(store, g, jobs, p):
        k = p % len(jobs)  # rotate the order from pass to pass
        for peer, cmd, env in jobs[k:] + jobs[:k]:
            env = dict(env or {}, OMP_NUM_THREADS=str(g[2]))
            r, err = run_json(cmd, env)
            what = "%s %s %dT%s" % (g[0], g[1], g[2], " train" if store is tres else "")
            if err:
                log("  %s %s: FAILED: %s" % (what, peer, err))
            else:
                log("  %s %-14s %9.3f ms" % (what, peer, r["median_ms"]))
            store.add(g + (peer,), r, err)

    for p in range(a.passes):
        log("pass %d/%d (load %.2f)" % (p + 1, a.passes, os.getloadavg()[0]))
        # Inference, then training on the same shapes (one training step per timed call).
        for train in (False, True):
            if ("training" if train else "inference") not in a.modes:
                continue
            for (name, cell, B, T, I, H, model, it, wu) in shapes:
                it, wu = iters_for(*TRAIN_ITERS[name]) if train else iters_for(it, wu)
                dims = ["--batch", str(B), "--time", str(T)]
                shape = dims + ["--input", str(I), "--hidden", str(H), "--iters", str(it), "--warmup", str(wu)]
                flag = ["--train"] if train else []
                for n in threads:
                    g = (name, cell, n)
                    if a.wait_quiet < 1:
                        wait_quiet(a.wait_quiet)
                    timing = dims + ["--threads", str(n), "--iters", str(it), "--warmup", str(wu), "--json"]
                    jobs = [("loom", [loom, "bench", os.path.join(MODELS, model)] + flag + timing, None)]
                    if not train and name == "S4" and cell == "lstm":
                        jobs.append(("loom_peephole",
                                     [loom, "bench", os.path.join(MODELS, PEEPHOLE_MODEL)] + timing, None))
                    for c in (["lstm"] if cell == "lstm" else ["lbr_gru", "gru"]):
                        jobs.append(("onednn_" + c, [dnnl, "--cell", c] + flag + shape, None))
                    if tv:
                        jobs.append(("torch", [PYTHON, os.path.join(HERE, "torch_rnn.py"), "--cell", cell] +
                                     flag + shape + ["--threads", str(n)], None))
                    measure(tres if train else res, g, jobs, p)
        if not a.no_compile_table and "inference" in a.modes and (not only or "S4" in only):
            for T, unroll in [(T, "none") for T in COMPILE_T] + \
                    ([(COMPILE_T[0], "full")] if a.has_unroll else []):
                cmd = [loom, "bench", os.path.join(MODELS, "s4_lstm_t%d.loom" % T), "--batch",
                       str(COMPILE_BATCH), "--time", str(T), "--threads", "1", "--iters", "1",
                       "--warmup", "0", "--json"] + (["--unroll", unroll] if a.has_unroll else [])
                r, err = run_json(cmd, {"OMP_NUM_THREADS": "1"})
                log("  compile S4 LSTM T=%d unroll=%s: %s" % (T, unroll, err or "%.1f ms" % r["compile_ms"]))
                res.add(("compile", T, unroll), r, err)

    elapsed = time.time() - t0
    load_end = os.getloadavg()
    text = render(a, res, tres, shapes, threads, tv, started, elapsed, load_start, load_end)
    keep = ""
    if os.path.exists(a.out):
        old = open(a.out).read()
        i, j = old.find(ANALYSIS_BEGIN), old.find(ANALYSIS_END)
        if i >= 0 and j > i:
            keep = old[i:j + len(ANALYSIS_END)]
    if not keep:
        keep = ANALYSIS_BEGIN + "\n## Analysis\n\n(Not written yet: what limits loom where it misses a " \
               "target.)\n" + ANALYSIS_END
    text = text.replace("@@ANALYSIS@@", keep)
    with open(a.out, "w") as f:
        f.write(text)
    log("wrote %s (%.0f s)" % (a.out, elapsed))


def fmt_ms(x):
    if x is None:
        return "—"
    return "%.3f" % x if x < 10 else "%.1f" % x


def fmt_r(x):
    return "—" if x is None else "%.2f" % x


def render(a, res, tres, shapes, threads, tv, started, elapsed, load_start, load_end):
    L = []
    w = L.append
    w("# loom benchmark results")
    w("")
    w("Generated by `bench/run.py` (see `bench/README.md`) on %s; %d pass(es), %.0f s in all "
      "(%.0f s of it waiting for a quiet machine). 1-minute load average %.2f at the start, "
      "%.2f at the end (it counts the benchmark's own threads too)." % (
          started.strftime("%Y-%m-%d %H:%M"), a.passes, elapsed, QUIET["waited_s"],
          load_start[0], load_end[0]))
    if QUIET["busy"]:
        w("")
        w("Quiet check: before each shape and thread count the harness sampled the CPU use of "
          "everything else for 2 s and went ahead only below %.0f%%. It had to wait %d of %d times "
          "(%.0f s in all); when it went ahead, other work used a median %.0f%% and at most %.0f%% "
          "of the CPUs." % (100 * a.wait_quiet, QUIET["waits"], QUIET["checks"], QUIET["waited_s"],
                            100 * statistics.median(QUIET["busy"]), 100 * max(QUIET["busy"])))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    for k, v in machine_info(tv, a.loom_binary):
        w("| %s | %s |" % (k, v))
    w("")
    w("## What is measured")
    w("")
    w("- **Inference**: one forward call. **Training** (the second half of this file): one "
      "training step on one batch: loom `bench --train` (the models' `train` blocks: forward, "
      "`mse` against a random target of every step's output, backpropagation through time, "
      "`sgd` update, all one compiled function), oneDNN `forward_training` + `backward` "
      "primitives (zeroing the gradient buffers, no weight update), PyTorch forward, `MSELoss`, "
      "`backward()`, `SGD.step()`, `zero_grad()`.")
    w("- One layer, one direction, zero initial state, float32, **every step's output**: loom with "
      "`return_sequences=true` (`bench/models/*.loom`), oneDNN's `dst_layer` [T, B, H], PyTorch's "
      "`nn.LSTM`/`nn.GRU` output. loom takes [B, T, I] (Keras layout), the peers [T, B, I].")
    w("- GRU: loom's `gru` defaults to `reset_after=true` (Keras's default, PyTorch's formula), "
      "which is oneDNN's `lbr_gru_forward`; GRU ratios are against `lbr_gru`. `gru_forward` "
      "(the reset-before formula) is shown too.")
    w("- oneDNN %s: `forward_inference` primitives, weights in the layouts oneDNN picks "
      "(`format_tag::any`, reordered from ldigo before timing), src/dst in tnc; only `execute` "
      "is timed. PyTorch: `torch.no_grad()`; with 1 thread ATen 1 + OpenBLAS 1, with 2 threads "
      "ATen 1 + OpenBLAS 2 (its faster 2-thread configuration on 2 cores; ATen 2 + OpenBLAS 2 "
      "is slower than 1 thread). loom: `loom bench --json` (weights from loom init's "
      "initialisers, random inputs), one JIT compile, then timed calls." % dnnl_version())
    w("- ms = median over passes of each process's median per-call time (p10 / p90 likewise). "
      "GFLOP/s = 2·B·T·G·H·(I+H) / ms (G = 4 LSTM, 3 GRU), the same count for every peer. "
      "**Ratios are time ratios** (loom ms / peer ms, below 1 = loom faster): the median over passes "
      "of the ratio measured within one pass, peers interleaved, their order rotating per pass. "
      "† marks a noisy row (p90 more than twice the median).")
    w("")

    groups = []
    for s in shapes:
        if (s[0], s[1]) not in groups:
            groups.append((s[0], s[1]))
    verdicts = []

    def shape_tables(store, train):
        for (name, cell) in groups:
            s = next(x for x in shapes if x[0] == name and x[1] == cell)
            _, _, B, T, I, H, model, it, wu = s
            if train:
                it, wu = TRAIN_ITERS[name]
            if not any(k[:2] == (name, cell) for k in store.samples):
                continue
            fl = flops(cell, B, T, I, H, train)
            w("%s %s %s  (B=%d, T=%d, I=%d, H=%d; %s; %d timed %s per process)" % (
                "###" if train else "##", name, cell.upper(), B, T, I, H, "`bench/models/%s`" % model,
                it if not a.quick else max(3, it // 10), "steps" if train else "calls"))
            w("")
            dn = "onednn_lstm" if cell == "lstm" else "onednn_lbr_gru"
            peers = ["loom"]
            if name == "S4" and cell == "lstm" and not train:
                peers.append("loom_peephole")
            peers += ["onednn_lstm"] if cell == "lstm" else ["onednn_lbr_gru", "onednn_gru"]
            peers.append("torch")
            oned = "backward" if train else "forward"
            label = {"loom": "loom `%s`%s" % (cell, " `--train`" if train else ""),
                     "loom_peephole": "loom peephole LSTM (custom cell)",
                     "onednn_lstm": "oneDNN lstm_%s" % oned, "onednn_lbr_gru": "oneDNN lbr_gru_%s" % oned,
                     "onednn_gru": "oneDNN gru_%s" % oned,
                     "torch": "PyTorch nn.%s" % ("LSTM" if cell == "lstm" else "GRU")}
            if train:
                for k, c in (("onednn_lstm", "lstm"), ("onednn_lbr_gru", "lbr_gru"), ("onednn_gru", "gru")):
                    label[k] = "oneDNN %s_forward (training) + %s_backward" % (c, c)
            w("| threads | peer | ms | p10 | p90 | GFLOP/s | loom / peer |")
            w("|---:|---|---:|---:|---:|---:|---:|")
            for n in threads:
                for peer in peers:
                    key = (name, cell, n, peer)
                    if key not in store.samples:
                        continue
                    m = store.med(key)
                    errs = store.errors.get(key)
                    gf = fl / (m * 1e-3) / 1e9 if m else None
                    r = None if peer.startswith("loom") else store.ratio((name, cell, n, "loom"), key)
                    note = ""
                    if errs:
                        note = " (%d of %d runs failed: %s)" % (len(errs), len(store.samples[key]), errs[-1][:120])
                    p90 = store.med(key, "p90_ms")
                    noisy = m and p90 and p90 > 2 * m
                    w("| %d | %s%s | %s%s | %s | %s | %s | %s |" % (
                        n, label[peer], note, fmt_ms(m), " †" if noisy else "", fmt_ms(store.med(key, "p10_ms")),
                        fmt_ms(p90), "—" if gf is None else "%.1f" % gf, fmt_r(r)))
            w("")
            if train:
                ro = [(n, store.med((name, cell, n, dn), "bwd_weights_reorder_ms")) for n in threads]
                ro = [(n, x) for n, x in ro if x is not None]
                if ro:
                    w("Not in the oneDNN times: reordering the weights from the forward primitive's layout "
                      "into the backward's, which a training loop has to redo after every update: %s." % ", ".join(
                          "%s ms with %d thread%s" % (fmt_ms(x), n, "s" if n > 1 else "") for n, x in ro))
                    w("")
            # Targets from the issue.
            fl_need = loom_train_flops(cell, B, T, I, H) if train else fl
            tag = " training" if train else ""
            for n in threads:
                rd = store.ratio((name, cell, n, "loom"), (name, cell, n, dn))
                rt = store.ratio((name, cell, n, "loom"), (name, cell, n, "torch"))
                def needs(peer, lim):
                    # GFLOP/s loom would need to meet the target against this peer's measured time
                    m = store.med((name, cell, n, peer))
                    return (fl_need / (lim * m * 1e-3) / 1e9, n) if m else None
                if name in ("S1", "S2", "S3"):
                    verdicts.append(("%s %s%s %dT: loom/oneDNN ≤ 0.60" % (name, cell.upper(), tag, n), rd, 0.60,
                                     needs(dn, 0.60)))
                    verdicts.append(("%s %s%s %dT: loom/PyTorch ≤ 0.25" % (name, cell.upper(), tag, n), rt, 0.25,
                                     needs("torch", 0.25)))
                elif name == "S4":
                    verdicts.append(("%s %s%s %dT: loom/oneDNN ≤ 1.05" % (name, cell.upper(), tag, n), rd, 1.05,
                                     needs(dn, 1.05)))
                elif name == "S5" and n == 2:
                    verdicts.append(("S5 LSTM%s 2T: loom/oneDNN ≤ 0.60" % tag, rd, 0.60, needs(dn, 0.60)))
                if name == "S4" and cell == "lstm" and not train:
                    # custom cell within 5% of the built-in LSTM's GFLOP/s: time ratio ≤ 1/0.95
                    rp = store.ratio((name, cell, n, "loom_peephole"), (name, cell, n, "loom"))
                    verdicts.append(("S4 %dT: peephole GFLOP/s ≥ 0.95 × built-in LSTM (time ratio ≤ 1.053)" % n,
                                     rp, 1 / 0.95, None))

    shape_tables(res, False)
    # Custom cell summary.
    if any(k[3] == "loom_peephole" for k in res.samples):
        w("## Custom cell vs built-in LSTM (S4)")
        w("")
        w("The peephole LSTM of `examples/cells/peephole_lstm.loom`, written in the DSL "
          "(`bench/models/s4_peephole.loom`), against loom's built-in `lstm` at the S4 shape. "
          "GFLOP/s counts the same 2·B·T·4·H·(I+H) for both (the peepholes add 3·B·T·H "
          "multiply-adds, under 0.1%).")
        w("")
        w("| threads | built-in ms | peephole ms | built-in GFLOP/s | peephole GFLOP/s | peephole / built-in (time) |")
        w("|---:|---:|---:|---:|---:|---:|")
        fl = flops("lstm", 64, 50, 512, 512)
        for n in threads:
            mb, mp = res.med(("S4", "lstm", n, "loom")), res.med(("S4", "lstm", n, "loom_peephole"))
            w("| %d | %s | %s | %s | %s | %s |" % (
                n, fmt_ms(mb), fmt_ms(mp), "%.1f" % (fl / mb / 1e6) if mb else "—",
                "%.1f" % (fl / mp / 1e6) if mp else "—",
                fmt_r(res.ratio(("S4", "lstm", n, "loom_peephole"), ("S4", "lstm", n, "loom")))))
        w("")

    if tres.samples:
        w("## Training")
        w("")
        w("One training step of the same layer on one batch, every step's output in the loss. "
          "loom: `loom bench MODEL --train` (the `train` block of each `bench/models/*.loom`: "
          "`loss = mse(y, t)`, `optimizer = sgd(learning_rate=0.001)`; forward, loss, "
          "backpropagation through time and the SGD update in one compiled step function; random "
          "batch and target, weights from loom init's initialisers). oneDNN: a `forward_training` "
          "primitive and the matching `backward` primitive (weights and weight gradients in the "
          "layouts oneDNN picks, `format_tag::any`; random `diff_dst_layer` standing in for the "
          "loss gradient; the gradient buffers zeroed each step since oneDNN accumulates into "
          "them). The oneDNN step **leaves out the weight update** (W -= lr·dW: elementwise, "
          "under 1% of a step) and the loss. PyTorch: forward, `MSELoss`, `backward()`, "
          "`torch.optim.SGD(lr=0.001).step()`, `zero_grad()`, same thread settings as inference.")
        w("")
        w("Work differs slightly: oneDNN's backward also computes the gradient of the input "
          "sequence (`diff_src_layer`, 2·B·T·G·H·I flops), which loom and PyTorch skip (the input "
          "is not a parameter). GFLOP/s counts 3 × the forward's 2·B·T·G·H·(I+H) for every peer; "
          "the \"needs\" column of the targets counts loom's own work, 2·B·T·G·H·(2(I+H)+H).")
        w("")
        shape_tables(tres, True)

    # Compile-time table.
    w("## Compile time")
    w("")
    w("`compile_ms` of `loom bench`: the JIT compile of the already-lowered model (codegen, LLVM "
      "O3, ORC), not parsing and the graph passes. Rows at T = 50, 500, 5000 use "
      "`bench/models/s4_lstm_t{50,500,5000}.loom`, where T is static in the model type so the "
      "compiler sees the trip count; run at B = %d (B is symbolic: the compiled code does not "
      "depend on it), 1 thread. Median over passes." % COMPILE_BATCH)
    w("")
    w("| model | loops | compile ms | vs T=50 |")
    w("|---|---|---:|---:|")
    base = res.med(("compile", COMPILE_T[0], "none"), "compile_ms")
    for T, unroll in [(T, "none") for T in COMPILE_T] + [(COMPILE_T[0], "full")]:
        key = ("compile", T, unroll)
        if key not in res.samples:
            if unroll == "full" and base is not None and not a.has_unroll:
                w("| S4 LSTM, T = %d | unrolled | — (this loom has no `--unroll`) | — |" % T)
            continue
        c = res.med(key, "compile_ms")
        errs = res.errors.get(key)
        w("| S4 LSTM, T = %d%s | %s | %s | %s |" % (
            T, " (failed: %s)" % errs[-1][:120] if errs else "",
            "rolled" if unroll == "none" else "unrolled (`--unroll full`)", fmt_ms(c),
            "%.2f" % (c / base) if c and base else "—"))
    w("")
    w("The unrolled row times only the JIT compile of the unrolled graph (the unroll pass itself "
      "runs before, with the other graph passes). The JIT compile time of every "
      "benchmark model (symbolic T, loops rolled), median over all its runs; the training column "
      "is `compile_ms` of `loom bench --train`, which covers more: building the training step "
      "(parsing, elaboration, autodiff, the graph passes) and the evaluation function, and "
      "JIT-compiling both:")
    w("")
    w("| model | compile ms | training step: build + compile ms |")
    w("|---|---:|---:|")

    def cms(store, key):
        xs = [r["compile_ms"] for n in threads for r in store.samples.get(key + (n, "loom"), [])
              if r and "compile_ms" in r]
        return fmt_ms(statistics.median(xs)) if xs else "—"
    for (name, cell, B, T, I, H, model, it, wu) in shapes:
        w("| `%s` | %s | %s |" % (model, cms(res, (name, cell)), cms(tres, (name, cell))))
        if name == "S4" and cell == "lstm":
            xs = [r["compile_ms"] for n in threads
                  for r in res.samples.get((name, cell, n, "loom_peephole"), []) if r and "compile_ms" in r]
            w("| `%s` | %s | — |" % (PEEPHOLE_MODEL, fmt_ms(statistics.median(xs)) if xs else "—"))
    w("")
    s4c = [r["compile_ms"] for n in threads for r in res.samples.get(("S4", "lstm", n, "loom"), [])
           if r and "compile_ms" in r]
    if s4c:
        verdicts.append(("S4 LSTM JIT compile ≤ 100 ms", statistics.median(s4c), 100.0, None))
    c50, c5000 = base, res.med(("compile", 5000, "none"), "compile_ms")
    if c50 and c5000:
        verdicts.append(("compile at T=5000 (rolled) ≤ 1.10 × T=50", c5000 / c50, 1.10, None))

    # Targets.
    w("## Targets of the issue")
    w("")
    w("\"needs\" is the speed loom would have to reach to meet a speed target against the peer's "
      "measured time, next to the machine's f32 peak (≈ %d GFLOP/s per core: 2 FMA × 8 lanes × "
      "~3 GHz; oneDNN's matmul reaches 87.5 / 169 GFLOP/s at 1024³ with 1 / 2 threads on "
      "this kind of machine). A target that needs more than the peak cannot be met on this "
      "machine by any implementation that does the same flops." % PEAK_PER_CORE)
    w("")
    w("| target | measured | | needs GFLOP/s (peak) |")
    w("|---|---:|---|---:|")
    for what, val, lim, nd in verdicts:
        need = "—"
        if nd:
            g, n = nd
            need = "%.0f (%d)%s" % (g, PEAK_PER_CORE * n, " **above peak**" if g > PEAK_PER_CORE * n else "")
        if val is None:
            w("| %s | — | not measured | %s |" % (what, need))
        else:
            w("| %s | %s | %s | %s |" % (what, "%.1f ms" % val if "ms" in what.split("≤")[-1] else "%.2f" % val,
                                         "met" if val <= lim else "**MISSED**", need))
    w("")
    w("The training rows apply the inference targets to the training step (the issue: "
      "\"training targets apply once training exists\").")
    w("")
    w("@@ANALYSIS@@")
    w("")
    return "\n".join(L)


if __name__ == "__main__":
    main()
