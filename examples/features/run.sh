#!/usr/bin/env bash
# IMSAT on feature vectors against the classic binarisations, one run: the bundled digits as
# .npy features (pixels / 255, float32 [10000, 784]); a BITS-bit IMSAT hash trained on them
# (VAT, the features default) and, for comparison, on the IDX file with the same SAT
# (--sat vat); ITQ and random-projection LSH codes of the same features (baselines.py); all
# scored by `imsat eval` with the same retrieval protocol and query/gallery split.
#
#   examples/features/run.sh [work-dir]     (BITS=64 EPOCHS=50 by default; about 1 s per
#                                            epoch on 2 cores, a minute a training)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
bits=${BITS:-64}
epochs=${EPOCHS:-50}
imsat=${IMSAT:-}
if [ -z "$imsat" ]; then
  cargo build --release --quiet --bin imsat
  imsat=${CARGO_TARGET_DIR:-target}/release/imsat
fi
images=data/mnist10k/images-idx3-ubyte.gz
labels=data/mnist10k/labels-idx1-ubyte.gz
python3 - "$work" <<'PY'
import gzip, sys, numpy as np
work = sys.argv[1]
def idx(path):
    b = gzip.open(path).read()
    rank = b[3]
    dims = [int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * rank).reshape(dims)
np.save(f"{work}/x.npy", idx("data/mnist10k/images-idx3-ubyte.gz").reshape(10000, -1).astype(np.float32) / 255.0)
np.save(f"{work}/y.npy", idx("data/mnist10k/labels-idx1-ubyte.gz").astype(np.int64))
PY
"$imsat" --quiet train --task hash --bits "$bits" --epochs "$epochs" \
  --data "$work/x.npy" --labels "$work/y.npy" --out "$work/npy$bits" --overwrite >/dev/null
"$imsat" --quiet train --task hash --bits "$bits" --epochs "$epochs" --sat vat \
  --data "$images" --labels "$labels" --out "$work/idx$bits" --overwrite >/dev/null
python3 examples/features/baselines.py "$work/x.npy" "$bits" "$work"
echo "method bits map precision_at_500 precision_within_r2"
row() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read().splitlines()[-1]); print(sys.argv[1], r["bits"], *(round(r[k], 3) for k in ("map","precision_at_500","precision_within_r2")))' "$1"; }
"$imsat" eval --model "$work/npy$bits/model.onnx" --data "$work/x.npy" --labels "$work/y.npy" | row "imsat-features"
"$imsat" eval --model "$work/idx$bits/model.onnx" --data "$images" --labels "$labels" | row "imsat-idx"
"$imsat" eval --codes "$work/itq$bits.npy" --labels "$work/y.npy" | row "itq"
"$imsat" eval --codes "$work/lsh$bits.npy" --labels "$work/y.npy" | row "lsh"
