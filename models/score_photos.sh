#!/usr/bin/env bash
# Score a photo model on photographs from elsewhere, cut as the bundled set is cut: each
# picture's full frame, plus a 2x2 grid of full-resolution tiles when its shorter side is at
# least 800 px, every image at 384 px on its longer side (LANCZOS), JPEG quality 95, the
# tiles of one picture one photo group. Then both protocols score the model on them, beside
# pHash (and dHash in the first): `imsat eval --task copy-detection` (the trainer's edits)
# and models/pil_protocol.py (Pillow's edits, hashed through `imsat encode` as the benchmark
# hands codes over). For testing only: choose settings by models/cv_photo.sh, not by these.
#
#   models/score_photos.sh SRC_DIR [MODEL]     # SRC_DIR: one picture per image file
#   EDIT_SEED=1 CAPTION_Y=0,0.25 WORK=/tmp/ext models/score_photos.sh SRC_DIR
#
# MODEL defaults to models/photo64.int8.onnx. Prints the eval's JSON summary, then
# pil_protocol's line. Needs numpy, pillow and imagehash.
set -euo pipefail
SRC=${1:?usage: models/score_photos.sh SRC_DIR [MODEL]}
# Paths the caller gives are read from the caller's folder, not from the repository root the
# script moves to (the defaults below are the repository's).
SRC=$(realpath -m -- "$SRC")
MODEL=
[ -z "${2:-}" ] || MODEL=$(realpath -e -- "$2")  # a missing model stops it here
[ -z "${WORK:-}" ] || WORK=$(realpath -m -- "$WORK")
case ${IMSAT:-} in */*) IMSAT=$(realpath -m -- "$IMSAT") ;; esac  # a bare name is looked up in PATH
cd "$(dirname "$0")/.."

[ -n "$MODEL" ] || MODEL=$(realpath models/photo64.int8.onnx)
WORK=${WORK:-$(mktemp -d)}
if [ -z "${IMSAT:-}" ]; then
  cargo build --release --quiet
  IMSAT=${CARGO_TARGET_DIR:-target}/release/imsat
fi

# A WORK used before holds that run's pictures and copies: this run's alone are scored.
rm -rf "$WORK/fold0/valid" "$WORK/fold0/pil_copies"
mkdir -p "$WORK/fold0/valid" "$WORK/fold0/run"
echo "work folder: $WORK" >&2
python3 - "$SRC" "$WORK" <<'PY'
import csv, os, sys
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
src, work = sys.argv[1], sys.argv[2]
out = os.path.join(work, "fold0", "valid")
rows = []
def save(img, group, part):
    name = f"x{len(rows):04d}.jpg"
    w, h = img.size
    s = 384 / max(w, h)
    img.resize((round(w * s), round(h * s)), Image.LANCZOS).save(os.path.join(out, name), quality=95)
    rows.append({"name": f"valid/{name}", "group": group, "part": part})
files = sorted(f for f in os.listdir(src) if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
if not files:
    sys.exit(f"{src}: no JPEG, PNG or BMP pictures")
for f in files:
    img = Image.open(os.path.join(src, f)).convert("RGB")
    group = os.path.splitext(f)[0]
    save(img, group, "full")
    w, h = img.size
    if min(w, h) >= 800:
        for r in range(2):
            for c in range(2):
                tile = img.crop((c * w // 2, r * h // 2, (c + 1) * w // 2, (r + 1) * h // 2))
                save(tile, group, f"tile{r}{c}")
with open(os.path.join(work, "manifest.csv"), "w", newline="") as m:
    writer = csv.DictWriter(m, fieldnames=["name", "group", "part", "source"])
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "source": r["group"]})
print(f"{len(files)} pictures, {len(rows)} images in {out}", file=sys.stderr)
PY
ln -sf "$MODEL" "$WORK/fold0/run/model.int8.onnx"

"$IMSAT" eval --task copy-detection --model "$MODEL" --data "$WORK/fold0/valid" \
  --groups "$WORK/manifest.csv" > "$WORK/eval.json"
python3 - "$WORK/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
row = {"photos": e.get("photos")}
for x in e["hashes"]:
    for g in ("moderate", "strong"):
        row[f"{x['name']}_{g}"] = round(x[g]["tpr_at_fpr_1e-3"], 4)
print("eval:", json.dumps(row))
PY
MANIFEST="$WORK/manifest.csv" python3 models/pil_protocol.py "$WORK" "$IMSAT" > "$WORK/pil.jsonl"
tail -n 1 "$WORK/pil.jsonl" | sed 's/^/pillow edits: /'
