#!/usr/bin/env bash
# Installs what jx needs from Debian's packages (only what is missing; quick when all is there).
set -euo pipefail
packages=(build-essential cmake ninja-build ccache pkg-config llvm-19-dev libdnnl-dev doctest-dev
          libspdlog-dev libfmt-dev nlohmann-json3-dev libopenblas-dev liblapacke-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "jx setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
