#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole doctest suite through ctest.
# JX_SANITIZE=1 builds into build-asan/ with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${JX_SANITIZE:-0}" = 1 ]; then
  export JX_BUILD_DIR=build-asan JX_BUILD_TYPE=RelWithDebInfo
  # -O1 -g1: the sanitizers' checks are the same, and the build is much quicker than -O2 -g.
  bash scripts/build.sh -DJX_SANITIZE=ON -DJX_BUILD_TESTS=ON -DJX_BUILD_SAMPLES=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
else
  bash scripts/build.sh -DJX_BUILD_TESTS=ON  # explicit: the cache may hold OFF from quickstart.sh
fi
ctest --test-dir "${JX_BUILD_DIR:-build}" --output-on-failure --no-tests=error
