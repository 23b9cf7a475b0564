#!/usr/bin/env bash
# Installs what is missing, builds the example programs (Release, -march=native) and trains the
# design card's LeNet-5 on MNIST, ending with its test accuracy. Arguments go to train_lenet.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target train_lenet
exec build/release/examples/train_lenet "$@"
