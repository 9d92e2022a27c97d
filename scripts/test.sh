#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite.
#   scripts/test.sh             the release build in ./build
#   scripts/test.sh --sanitize  everything built with ASan + UBSan in ./build-san, the whole
#                               suite run under them (docs/reliability.md)
set -euo pipefail
cd "$(dirname "$0")/.."
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
