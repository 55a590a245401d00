#!/usr/bin/env bash
# Encoding throughput, imsat (runtime encoder) against onnxruntime on the same ONNX files,
# one thread each, pinned to the same core, one after the other; batch 1, 64 and 1024 over
# the 10,000 bundled digits (best of 3 passes); a photo model's image is one model row per view,
# for both engines. Needs `python3 -m pip install onnxruntime numpy`.
#
#   examples/speed/run.sh                       # hash16 f32 and int8
#   examples/speed/run.sh models/photo64.onnx models/photo64.int8.onnx
set -euo pipefail
cd "$(dirname "$0")/../.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(models/hash16.onnx models/hash16.int8.onnx)
cargo build --release --quiet --example encode_speed
grep -m1 "model name" /proc/cpuinfo >&2 || true
for m in "${models[@]}"; do
  imsat=$(taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/examples/encode_speed" "$m" 1,64,1024)
  echo "$imsat"
  # A photo model's image is several model rows (one per view): onnxruntime runs as many.
  rows=$(sed -n 's/.*"rows_per_image":\([0-9]*\).*/\1/p' <<<"$imsat" | head -n 1)
  OMP_NUM_THREADS=1 taskset -c 0 python3 - "$m" "${rows:?encode_speed printed no rows_per_image}" <<'PY'
import gzip, json, sys, time
import numpy as np, onnxruntime as ort
model, rows = sys.argv[1], int(sys.argv[2])
raw = gzip.open("data/mnist10k/images-idx3-ubyte.gz").read()
x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784).astype(np.float32)
o = ort.SessionOptions()
o.intra_op_num_threads = 1
o.inter_op_num_threads = 1
s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
# A photo model's row is one view (e.g. 768 values) and an image `rows` of them, as imsat
# runs it (imsat also averages each image's logits, a few adds): for speed, any pixels do.
images = len(x)
x = np.ascontiguousarray(np.repeat(x[:, :s.get_inputs()[0].shape[1]], rows, axis=0))
for batch in (1, 64, 1024):
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, len(x), batch * rows):
            s.run(["logits"], {"pixels": x[i:i + batch * rows]})
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"engine": "onnxruntime " + ort.__version__, "model": model,
                      "rows_per_image": rows, "batch": batch,
                      "images_per_second": round(images / best)}))
PY
done
