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
# On a GPU machine: bash scripts/bench.sh --platform cuda (results in bench/results/gpu/). That
# machine may have no network: nothing is installed from PyPI, and a failing setup.sh only warns;
# the JAX with a GPU backend must already be there: $JX_BENCH_PYTHON, else <build>/bench-venv's
# Python, else python3 (bench/run.py says so when it has none).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${JX_BUILD_DIR:-build}"
venv="$dir/bench-venv"
platform=cpu
prev=""
for a in "$@"; do
  [[ $a == --platform=cuda || ($prev == --platform && $a == cuda) ]] && platform=cuda
  prev=$a
done

if [[ $platform == cuda ]]; then
  bash scripts/setup.sh || echo "jx bench: scripts/setup.sh failed (no network?); building with what is installed"
  py="${JX_BENCH_PYTHON:-}"
  if [[ -z $py ]]; then
    py=python3
    "$venv/bin/python" -c "import jax" 2>/dev/null && py="$venv/bin/python"
  fi
  echo "jx bench: building into $dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="${JX_BUILD_TYPE:-Release}" -DJX_BUILD_BENCH=ON >/dev/null
  cmake --build "$dir" -j "$(nproc)" --target bench_all
  exec "$py" bench/run.py --build-dir "$dir" "$@"
fi

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
