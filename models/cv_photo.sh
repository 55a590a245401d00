#!/usr/bin/env bash
# Group k-fold estimate of a photo-hash recipe on the bundled photos: the photo groups of
# ../shared/data/photos/manifest.csv (the tiles of one picture) are dealt into FOLDS folds
# with a fixed shuffle; each fold is held out once, a model is trained on the other photos
# with the flags given, and `imsat eval --task copy-detection` scores its int8 model on the
# held-out photos (pHash and dHash in the same run; false positives counted between photos of
# different groups, as the benchmark counts them; the model by its codes and by its soft
# distance, dedup's soft check). One JSON line per fold, then the mean, then the same
# held-out photos scored with Pillow's edits (models/pil_protocol.py).
#
#   models/cv_photo.sh                       # the training defaults, 4 folds, seed 0
#   FOLDS=5 SEED=1 models/cv_photo.sh --conv 16,3,2,4
#   FRACTION=0.33 WORK=/tmp/lc33 models/cv_photo.sh   # a learning-curve point
#   ONLY_FOLD=0 models/cv_photo.sh           # one fold (tests/cli/photo_estimate.rs checks it)
#
# FRACTION (default 1) trains each fold on that share of its training groups (a fixed
# shuffle, the same for every seed) and scores the same held-out photos, so runs at several
# fractions give a learning curve: how much a recipe gains from more photos (give each a
# fresh WORK).
# A single 37-photo split moved the strong-edit TPR by +-0.07 between seeds; the mean over
# folds covers every photo once and is what the photo defaults were chosen by.
set -euo pipefail
# Paths the caller gives are read from the caller's folder, not from the repository root the
# script moves to (the defaults below are the repository's).
[ -z "${WORK:-}" ] || WORK=$(realpath -m -- "$WORK")
case ${IMSAT:-} in */*) IMSAT=$(realpath -m -- "$IMSAT") ;; esac  # a bare name is looked up in PATH
cd "$(dirname "$0")/.."

FOLDS=${FOLDS:-4}
SEED=${SEED:-0}
FRACTION=${FRACTION:-1}
ONLY_FOLD=${ONLY_FOLD:-}
if [ -n "$ONLY_FOLD" ] && ! { [[ $ONLY_FOLD =~ ^[0-9]+$ ]] && ((ONLY_FOLD < FOLDS)); }; then
  echo "ONLY_FOLD=$ONLY_FOLD: a fold number from 0 to $((FOLDS - 1))" >&2
  exit 2
fi
WORK=${WORK:-$(mktemp -d)}
PHOTOS=../shared/data/photos
if [ -z "${IMSAT:-}" ]; then
  cargo build --release --quiet
  IMSAT=${CARGO_TARGET_DIR:-target}/release/imsat
fi

mkdir -p "$WORK"
echo "work folder: $WORK" >&2
python3 - "$PHOTOS" "$WORK" "$FOLDS" "$FRACTION" <<'PY'
import csv, os, random, sys
photos, work, folds, fraction = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if not 0 < fraction <= 1:
    sys.exit(f"FRACTION must be in (0, 1], got {fraction}")
rows = list(csv.DictReader(open(os.path.join(photos, "manifest.csv"))))
groups = sorted({r["group"] for r in rows})
random.Random(0).shuffle(groups)
fold_of = {g: i % folds for i, g in enumerate(groups)}
# The training groups each fold keeps (all of them at FRACTION 1).
kept = []
for k in range(folds):
    train = sorted(g for g in groups if fold_of[g] != k)
    random.Random(1).shuffle(train)
    kept.append(set(train[: max(1, round(fraction * len(train)))]))
# Made anew: a WORK split before with other FOLDS or FRACTION would otherwise keep links
# that put held-out photos into training (the runs' outputs beside them stay).
for k in range(folds):
    for part in ("train", "valid"):
        linked = os.path.join(work, f"fold{k}", part)
        if os.path.isdir(linked):
            for name in os.listdir(linked):
                os.unlink(os.path.join(linked, name))
        os.makedirs(linked, exist_ok=True)
for r in rows:
    src = os.path.realpath(os.path.join(photos, r["name"]))
    for k in range(folds):
        part = "valid" if fold_of[r["group"]] == k else "train"
        if part == "train" and r["group"] not in kept[k]:
            continue
        dst = os.path.join(work, f"fold{k}", part, os.path.basename(r["name"]))
        if not os.path.lexists(dst):
            os.symlink(src, dst)
PY

for ((k = 0; k < FOLDS; k++)); do
  [ -z "$ONLY_FOLD" ] || [ "$k" = "$ONLY_FOLD" ] || continue
  dir="$WORK/fold$k"
  start=$(date +%s)
  "$IMSAT" --quiet train --task hash --bits 64 --data "$dir/train" --holdout 0 --seed "$SEED" \
    --out "$dir/run" --overwrite "$@" >/dev/null
  seconds=$(( $(date +%s) - start ))
  "$IMSAT" eval --task copy-detection --model "$dir/run/model.int8.onnx" \
    --reference "$dir/run/model.onnx" --data "$dir/valid" --groups "$PHOTOS/manifest.csv" \
    > "$dir/eval.json"
  # shellcheck disable=SC2012  # a count of the photo links, whose names are the manifest's
  python3 - "$dir/eval.json" "$k" "$seconds" "$(ls "$dir/train" | wc -l)" <<'PY'
import json, sys
e, k, s, n = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4])
h = {x["name"]: x for x in e["hashes"]}
learned = e["hashes"][0]
row = {"fold": int(k), "train_s": int(s), "train_photos": n, "photos": e.get("photos"),
       "agreement": e.get("bits_equal_to_reference")}
for name, x in [("learned", learned), ("phash", h.get("phash"))]:
    for g in ("moderate", "strong"):
        row[f"{name}_{g}"] = round(x[g]["tpr_at_fpr_1e-3"], 4)
        row[f"{name}_{g}_map"] = round(x[g]["map"], 4)
row["threshold_1e-4"] = learned["moderate"]["threshold_at_fpr_1e-4"]
# The model by its soft distance (dedup's soft check): its TPR, and the check it sets.
soft = next(x for x in e["hashes"] if x.get("distance") == "soft")
for g in ("moderate", "strong"):
    row[f"soft_{g}"] = round(soft[g]["tpr_at_fpr_1e-3"], 4)
row["threshold_1e-2"] = learned["moderate"]["threshold_at_fpr_1e-2"]
row["soft_distance_1e-4"] = soft["moderate"]["threshold_at_fpr_1e-4"]
print(json.dumps(row))
PY
done | tee "$WORK/folds.jsonl"
python3 - "$WORK/folds.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = [k for k in rows[0] if k not in ("fold", "photos")]
# A value a fold could not measure (null: a threshold with too few pairs) is left out of its
# mean, and a key no fold measured stays null, rather than counting as 0.
def mean_of(k):
    vals = [r[k] for r in rows if r[k] is not None]
    return round(sum(vals) / len(vals), 4) if vals else None
mean = {k: mean_of(k) for k in keys}
print(json.dumps({"mean_over_folds": len(rows), **mean}))
PY

# The same held-out photos edited by Pillow instead of the trainer's edit code, hashed through
# `imsat encode` as the benchmark hands codes over (models/pil_protocol.py): how much the
# estimate depends on how the edits are drawn. Needs pillow and imagehash.
if [ -n "$ONLY_FOLD" ]; then
  echo "pillow edits: not run (ONLY_FOLD: one fold)" >&2
elif python3 -c 'import PIL, imagehash' 2>/dev/null; then
  python3 models/pil_protocol.py "$WORK" "$IMSAT" > "$WORK/pil.jsonl"
  tail -n 1 "$WORK/pil.jsonl" | sed 's/^/pillow edits: /'
else
  echo "pillow edits: not run (python3 lacks pillow or imagehash)" >&2
fi
