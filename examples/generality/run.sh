#!/usr/bin/env bash
# The clustering defaults on data they were not tuned on, beside MNIST-10k: for each data set
# and seed, `imsat train --task cluster --classes 10` with no other flag (labels only score
# the result), then KMeans on the raw pixels (scikit-learn, 10 restarts) for reference.
#
#   examples/generality/run.sh [work-dir]        SEEDS="0 1 2" SETS="digits8x8 mnist10k"
#
# About 9 minutes per 8x8 run (two restarts of 4.4) and 3-4 minutes per MNIST-10k run on 2 cores
# (168 s and 244 s, 2026-12-05).
# Needs: python3 -m pip install scikit-learn
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
seeds=${SEEDS:-0 1 2}
sets=${SETS:-digits8x8 mnist10k}
imsat=${IMSAT:-}
if [ -z "$imsat" ]; then
  cargo build --release --quiet --bin imsat
  imsat=${CARGO_TARGET_DIR:-target}/release/imsat
fi
field() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read().splitlines()[-1]); print(round(r[sys.argv[1]], 4))' "$1"; }
echo "data method seed acc nmi"
for set in $sets; do
  images=data/$set/images-idx3-ubyte.gz
  labels=data/$set/labels-idx1-ubyte.gz
  for seed in $seeds; do
    out="$work/$set-s$seed"
    rm -rf "$out"
    report=$("$imsat" --quiet train --task cluster --classes 10 --data "$images" --labels "$labels" \
      --seed "$seed" --out "$out" | tail -n 1)
    echo "$set imsat-defaults $seed $(field acc <<<"$report") $(field nmi <<<"$report")"
  done
  # shellcheck disable=SC2086
  python3 examples/generality/kmeans.py "$images" "$labels" 10 $seeds | while read -r line; do
    echo "$set kmeans-pixels $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["seed"], round(r["acc"], 4), round(r["nmi"], 4))' "$line")"
  done
done
