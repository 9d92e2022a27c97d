#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and run the demo: one compiled simple RNN
# model serving two different batch sizes and sequence lengths.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
loom=build/tools/loom
model=examples/shapes/simple_rnn.loom
out=build/demo
mkdir -p "$out"

echo "== loom check $model"
$loom check "$model"
echo "== loom init (Keras initialisers, seed 1)"
$loom init "$model" -o "$out/w.npz" --seed 1
/usr/bin/python3 - "$out" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
np.save(f"{sys.argv[1]}/x1.npy", rng.standard_normal((1, 3, 5)).astype(np.float32))
np.save(f"{sys.argv[1]}/x2.npy", rng.standard_normal((2, 4, 5)).astype(np.float32))
PY
echo "== loom run, x of shape (1, 3, 5)"
$loom run "$model" --weights "$out/w.npz" --input x="$out/x1.npy" -o "$out/y1.npz"
echo "== loom run, x of shape (2, 4, 5)"
$loom run "$model" --weights "$out/w.npz" --input x="$out/x2.npy" -o "$out/y2.npz"
echo "== what the compiler made of it: the optimised IR (loom ir $model)"
$loom ir "$model"
