#!/usr/bin/env bash
# Benchmarks jx against JAX on this machine (the workloads of ../shared/bench/WORKLOADS.md):
#   1. installs what jx needs (scripts/setup.sh) and python3-venv if missing;
#   2. prepares a Python virtual environment in <build>/bench-venv with jax[cpu] and matplotlib
#      from the package index (only when they are missing);
#   3. builds jx and the bench programs into <build> (-DJX_BUILD_BENCH=ON);
#   4. runs bench/run.py with that venv's Python: machine limits, then every workload alternately
#      in jx and JAX, and writes bench/results/latest.md, latest.json and ratios.png.
# <build> is $JX_BUILD_DIR (default build). Arguments go to bench/run.py, e.g.
#   bash scripts/bench.sh --only W1,W3 --rounds 5
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${JX_BUILD_DIR:-build}"
venv="$dir/bench-venv"

bash scripts/setup.sh
if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  echo "jx bench: installing python3-venv"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
fi

if ! "$venv/bin/python" -c "import jax, jaxlib, matplotlib" 2>/dev/null; then
  echo "jx bench: preparing $venv (jax[cpu], matplotlib from PyPI)"
  mkdir -p "$dir"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "jax[cpu]" matplotlib
fi

echo "jx bench: building into $dir"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="${JX_BUILD_TYPE:-Release}" -DJX_BUILD_BENCH=ON >/dev/null
cmake --build "$dir" -j "$(nproc)" --target bench_all

exec "$venv/bin/python" bench/run.py --build-dir "$dir" "$@"
