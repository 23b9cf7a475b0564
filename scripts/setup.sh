#!/usr/bin/env bash
# Installs the Debian 12 packages ctnn builds with, skipping those already installed.
set -euo pipefail
packages=(g++ clang libomp-dev libclang-rt-14-dev cmake make libxsimd-dev libboost-dev doctest-dev
          libbenchmark-dev zlib1g-dev libhdf5-dev nlohmann-json3-dev libcli11-dev libstb-dev libfmt-dev dataset-fashion-mnist)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing: ${missing[*]}"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
