#!/usr/bin/env bash
# Installs what is missing, then configures, builds (-j2) and runs every test with one preset
# of CMakePresets.json: gcc (the default), clang or asan.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-gcc}"
scripts/setup.sh
set -x
cmake --workflow --preset "$preset"
