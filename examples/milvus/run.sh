#!/usr/bin/env bash
# End to end: the bundled digits as .npy feature vectors -> `imsat train` (64-bit hash) ->
# `imsat encode --out codes.npy` -> `imsat index` + `imsat search` -> the same codes in a
# Milvus Lite BINARY_VECTOR collection (HAMMING) -> check.py: Milvus's top-10 equals imsat's,
# ties aside. Needs: pip install numpy "pymilvus>=2.5,<2.6" "milvus-lite==2.5.1" "setuptools<81".
#
#   examples/milvus/run.sh [work-dir]      (EPOCHS=3 by default; IMSAT=path to the binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
epochs=${EPOCHS:-3}
imsat=${IMSAT:-}
if [ -z "$imsat" ]; then
  cargo build --release --quiet --bin imsat
  imsat=${CARGO_TARGET_DIR:-target}/release/imsat
fi

echo "== digits as features: $work/x.npy"
python3 - "$work" <<'PY'
import gzip, sys, numpy as np
work = sys.argv[1]
def idx(path):
    b = gzip.open(path).read()
    rank = b[3]
    dims = [int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * rank).reshape(dims)
x = idx("data/mnist10k/images-idx3-ubyte.gz").reshape(10000, -1).astype(np.float32) / 255.0
y = idx("data/mnist10k/labels-idx1-ubyte.gz").astype(np.int64)
np.save(f"{work}/x.npy", x)
np.save(f"{work}/y.npy", y)
PY

echo "== train a 64-bit hash on the features ($epochs epochs)"
"$imsat" --quiet train --task hash --bits 64 --epochs "$epochs" \
  --data "$work/x.npy" --labels "$work/y.npy" --out "$work/run" --overwrite >"$work/report.json"
echo "== encode to codes.npy, index, search the first 100 codes"
"$imsat" --quiet encode --model "$work/run/model.onnx" --data "$work/x.npy" --out "$work/codes.npy"
"$imsat" --quiet index import --npy "$work/codes.npy" --out "$work/codes.index"
python3 - "$work" <<'PY'
import sys, numpy as np
work = sys.argv[1]
q = np.load(f"{work}/codes.npy")[:100]
np.save(f"{work}/queries.npy", q)
# The same queries as raw little-endian u64 words for `imsat search --queries-raw-u64`.
words = np.zeros((len(q), 8 * ((q.shape[1] + 7) // 8)), np.uint8)
words[:, : q.shape[1]] = q
words.tofile(f"{work}/queries.u64")
PY
"$imsat" --quiet search --index "$work/codes.index" --queries-raw-u64 "$work/queries.u64" \
  -k 10 --json >"$work/imsat.jsonl"
echo "== Milvus Lite: same top-10?"
python3 examples/milvus/check.py --codes "$work/codes.npy" --queries "$work/queries.npy" \
  --imsat "$work/imsat.jsonl" -k 10 --db "$work/milvus.db"
