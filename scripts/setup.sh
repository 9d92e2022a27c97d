#!/usr/bin/env bash
# Installs what loom needs from Debian's packages. Idempotent: installs only what is missing.
set -euo pipefail

pkgs=(
  cmake ninja-build ccache g++ pkg-config
  llvm-19-dev llvm-19-tools libzstd-dev     # LLVM (one shared library), lit + FileCheck
  libdnnl-dev                               # oneDNN 2.6 (matmul, conv1d, RNN primitives for bench)
  libfmt-dev libgtest-dev libgmock-dev libcli11-dev libzip-dev
  python3 python3-numpy                     # lit, test data scripts
  pybind11-dev python3-dev python3-pytest   # the Python module (python/) and its tests
  python3-matplotlib python3-h5py graphviz # History.plot, Keras .h5 weights, plot_graph
  clang-19 libfuzzer-19-dev libclang-rt-19-dev libomp-19-dev  # scripts/fuzz.sh (libFuzzer)
  fortunes python3-statsmodels              # examples/text, examples/forecast: their data
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all dependencies present"
fi
