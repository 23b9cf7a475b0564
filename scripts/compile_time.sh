#!/usr/bin/env bash
# Times a clean compile of the example programs' translation units with g++ and clang at -O2:
# network_types (the LeNet-5 type, its summary and one forward), train_lenet and
# train_mnist_best (a whole trainer: network, optimizers, trainer, data and model files), and
# the trainers' shared support file (CLI11 option parsing, compiled once for all of them).
# Each figure is the best of --runs (default 3) wall times; user CPU time is printed beside it
# because a busy machine stretches wall time. Writes build/compile_time.json.
#   scripts/compile_time.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
if [[ "${1:-}" == "--runs" ]]; then runs="$2"; fi
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

flags=(-std=c++20 -O2 -fopenmp -Iinclude -I/usr/include/hdf5/serial -c -o /dev/null)
sources=(examples/network_types.cpp examples/train_lenet.cpp examples/train_mnist_best.cpp
         examples/support/training_cli.cpp)
mkdir -p build
json="build/compile_time.json"
echo "[" > "$json.tmp"
first=1
printf '%-36s %-8s %10s %10s\n' "translation unit" compiler "wall s" "user s"
for compiler in g++ clang++; do
  if ! command -v "$compiler" > /dev/null; then
    echo "$compiler: not installed, skipped"
    continue
  fi
  for source in "${sources[@]}"; do
    best_wall="" best_user=""
    for ((run = 0; run < runs; ++run)); do
      TIMEFORMAT="%R %U"
      read -r wall user < <({ time "$compiler" "${flags[@]}" "$source" > /dev/null; } 2>&1 | tail -n 1)
      if [[ -z "$best_wall" ]] || awk "BEGIN { exit !($wall < $best_wall) }"; then
        best_wall="$wall" best_user="$user"
      fi
    done
    printf '%-36s %-8s %10s %10s\n' "$source" "$compiler" "$best_wall" "$best_user"
    [[ $first == 1 ]] || echo "," >> "$json.tmp"
    first=0
    printf '  {"source": "%s", "compiler": "%s", "wall_seconds": %s, "user_seconds": %s}' \
      "$source" "$compiler" "$best_wall" "$best_user" >> "$json.tmp"
  done
done
printf '\n]\n' >> "$json.tmp"
mv "$json.tmp" "$json"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); results: $json"
