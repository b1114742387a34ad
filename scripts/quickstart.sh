#!/usr/bin/env bash
# Installs dependencies, builds, and runs the flagship sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh -DJX_BUILD_TESTS=OFF -DJX_BUILD_SAMPLES=ON
./build/samples/quickstart
