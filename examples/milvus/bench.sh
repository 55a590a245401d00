#!/usr/bin/env bash
# 1M random 64-bit codes, 1,000 random queries, k = 10: queries/s of `imsat search` (one
# process, the index file) and of Milvus Lite (BIN_FLAT, HAMMING) on the same codes, and the
# answers checked equal (ties aside) by check.py. One run; the README's table.
#
#   examples/milvus/bench.sh [work-dir]      (N=1000000 Q=1000 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
imsat=${IMSAT:-}
if [ -z "$imsat" ]; then
  cargo build --release --quiet --bin imsat
  imsat=${CARGO_TARGET_DIR:-target}/release/imsat
fi
python3 - "$work" "${N:-1000000}" "${Q:-1000}" <<'PY'
import sys, numpy as np
work, n, q = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
codes = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
queries = rng.integers(0, 256, size=(q, 8), dtype=np.uint8)
np.save(f"{work}/codes.npy", codes)
np.save(f"{work}/queries.npy", queries)
queries.tofile(f"{work}/queries.u64")
PY
"$imsat" --quiet index import --npy "$work/codes.npy" --out "$work/codes.index" >/dev/null
"$imsat" --quiet search --index "$work/codes.index" --queries-raw-u64 "$work/queries.u64" \
  -k 10 --json >"$work/imsat.jsonl"
tail -1 "$work/imsat.jsonl"
python3 examples/milvus/check.py --codes "$work/codes.npy" --queries "$work/queries.npy" \
  --imsat "$work/imsat.jsonl" -k 10 --db "$work/milvus.db"
