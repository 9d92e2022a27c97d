#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite.
#   scripts/test.sh             the release build in ./build
#   scripts/test.sh --sanitize  everything built with ASan + UBSan in ./build-san, the whole
#                               suite run under them (docs/reliability.md)
#   scripts/test.sh --tsan      the concurrency tests (many threads compiling, running and
#                               destroying models, one compiled function or primitive shared
#                               by threads) built with ThreadSanitizer in ./build-tsan
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--tsan" ]; then
  bash scripts/setup.sh
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOOM_SANITIZE=thread \
    > build-tsan-configure.log 2>&1 || { cat build-tsan-configure.log; exit 1; }
  rm -f build-tsan-configure.log
  cmake --build build-tsan -j"$(nproc)" --target unit_api unit_codegen unit_runtime
  # libgomp (oneDNN's and the runtime's thread pool) is not instrumented: its barriers are
  # invisible to TSan, so reports inside OpenMP regions are suppressed (tests/tsan.supp).
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
  export OMP_NUM_THREADS=2
  build-tsan/tests/unit_api --gtest_filter='EmbedApi.Concurrent*:EmbedApi.WeightsCanChangeWhileCallsRun:EmbedApi.ThreadsCompile*:EmbedC.OneCallObjectPerThread'
  build-tsan/tests/unit_codegen --gtest_filter='CodegenDiff.ConcurrentCallsShareOneCompiledFunction'
  build-tsan/tests/unit_runtime --gtest_filter='*.ConcurrentCallersGetCorrectResults'
  exit
fi
if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/setup.sh
  cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLOOM_SANITIZE=address,undefined > build-san-configure.log 2>&1 || {
    cat build-san-configure.log; exit 1; }
  rm -f build-san-configure.log
  cmake --build build-san -j"$(nproc)"
  # allocator_may_return_null: tests ask for more than the machine has and expect an error,
  # not an abort. The JIT's code is not instrumented; everything around it is.
  export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  cd build-san
  ctest --output-on-failure -j"$(nproc)"
  exit
fi
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)"
