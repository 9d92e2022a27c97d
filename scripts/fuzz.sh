#!/usr/bin/env bash
# Runs one libFuzzer target (fuzz/) with ASan + UBSan for SECONDS, from its committed seed
# corpus (fuzz/corpus/TARGET) plus what earlier runs found (build-fuzz/corpus/TARGET).
#   scripts/fuzz.sh TARGET SECONDS     TARGET: npy, npz, model, ir, traindata, aot or capi
#   scripts/fuzz.sh --smoke            every target once over its committed corpus (CI)
# Crashes are written to build-fuzz/crashes/TARGET/ (libFuzzer's -artifact_prefix).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(npy npz model ir traindata aot capi)
bash scripts/setup.sh >/dev/null
CC=clang-19 CXX=clang++-19 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLOOM_FUZZ=ON -DLOOM_SANITIZE=address,undefined > build-fuzz-configure.log 2>&1 || {
  cat build-fuzz-configure.log; exit 1; }
rm -f build-fuzz-configure.log
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${1:-}" = "--smoke" ]; then
  cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}"
  for t in "${targets[@]}"; do
    build-fuzz/fuzz/fuzz_$t -runs=0 -dict=fuzz/$t.dict fuzz/corpus/$t
  done
  exit
fi
t=${1:?usage: scripts/fuzz.sh TARGET SECONDS | --smoke}
secs=${2:?usage: scripts/fuzz.sh TARGET SECONDS | --smoke}
cmake --build build-fuzz -j"$(nproc)" --target fuzz_$t
mkdir -p build-fuzz/corpus/$t build-fuzz/crashes/$t
build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -dict=fuzz/$t.dict -print_final_stats=1 -artifact_prefix=build-fuzz/crashes/$t/ \
  build-fuzz/corpus/$t fuzz/corpus/$t
