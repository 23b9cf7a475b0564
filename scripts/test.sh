#!/usr/bin/env bash
# Installs what is missing, then configures, builds (-j2) and runs every test with one preset
# of CMakePresets.json: gcc (the default), clang or asan (clang under ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-gcc}"
scripts/setup.sh
# ctest runs two tests at a time on two cores: OpenMP threads that spin while they wait for work
# would take the core from the other test.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
set -x
cmake --workflow --preset "$preset"
