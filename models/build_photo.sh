#!/usr/bin/env bash
# Train, estimate and document the shipped photo model, photo64: a 64-bit copy-detection
# hash learned from the bundled real photos (../shared/data/photos/train).
#
#   models/build_photo.sh                 # photo64, the training defaults, seed 0
#   TRAIN_FLAGS="--epochs 50" MODELS_DIR=/tmp/m models/build_photo.sh   # a quick dry run
#   CV_WORK=/tmp/cv/base models/build_photo.sh   # reuse a finished models/cv_photo.sh run
#
# Two steps. (1) The estimate: models/cv_photo.sh trains the same recipe on 3/4 of the photo
# groups four times and scores the held-out quarter each time (int8 against pHash and dHash),
# so every photo is scored once by a model that never saw it; its median threshold at FPR
# 1e-4 becomes the dedup radius, and its medians of the Hamming threshold at FPR 1e-2 and of the
# soft distance at FPR 1e-4 the soft check. (2) The shipped model: the same recipe on all 182
# photos (more pictures than any fold saw), with that radius and soft check.
#
# Writes MODELS_DIR/photo64.onnx, photo64.int8.onnx and photo64.md (the card), and keeps the
# training folder (report, config, history, curves) in RUNS_DIR/photo64.
set -euo pipefail
# Paths the caller gives are read from the caller's folder, not from the repository root the
# script moves to (the defaults below are the repository's).
[ -z "${MODELS_DIR:-}" ] || MODELS_DIR=$(realpath -m -- "$MODELS_DIR")
[ -z "${RUNS_DIR:-}" ] || RUNS_DIR=$(realpath -m -- "$RUNS_DIR")
[ -z "${CV_WORK:-}" ] || CV_WORK=$(realpath -m -- "$CV_WORK")
cd "$(dirname "$0")/.."

MODELS_DIR=${MODELS_DIR:-models}
RUNS_DIR=${RUNS_DIR:-runs/models}
SEED=${SEED:-0}
TRAIN_FLAGS=${TRAIN_FLAGS:-}
PHOTOS=../shared/data/photos
name=photo64

cargo build --release --quiet
IMSAT=${CARGO_TARGET_DIR:-target}/release/imsat
mkdir -p "$MODELS_DIR" "$RUNS_DIR"

# (1) The group 4-fold estimate.
if [ -z "${CV_WORK:-}" ]; then
  CV_WORK=$(mktemp -d)
  echo "cross-validation work folder: $CV_WORK" >&2
  # shellcheck disable=SC2086
  WORK="$CV_WORK" SEED="$SEED" models/cv_photo.sh $TRAIN_FLAGS >&2
fi
if [ ! -s "$CV_WORK/folds.jsonl" ]; then
  echo "$CV_WORK/folds.jsonl: missing or empty (CV_WORK: a finished models/cv_photo.sh run)" >&2
  exit 1
fi
# A fold's null (no threshold reached that FPR: too few pairs) is left out of the median, as
# cv_photo.sh leaves it out of its mean; with no fold measured there is nothing to ship.
measured='
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def measured(key):
    vals = [r[key] for r in rows if r[key] is not None]
    if not vals:
        sys.exit(f"{sys.argv[1]}: {key} is null in every fold (no threshold reached that FPR)")
    return vals
'
radius=$(python3 -c "$measured"'
import statistics
print(int(statistics.median_low(measured("threshold_1e-4"))))' "$CV_WORK/folds.jsonl")
# The soft check: candidates within the median Hamming threshold at FPR 1e-2, confirmed at the
# median soft distance at FPR 1e-4.
soft_check=$(python3 -c "$measured"'
import statistics
print("%d,%.2f" % (statistics.median_low(measured("threshold_1e-2")),
                   statistics.median(measured("soft_distance_1e-4"))))' "$CV_WORK/folds.jsonl")

# (2) The shipped model, on every photo.
run="$RUNS_DIR/$name"
# shellcheck disable=SC2206  # TRAIN_FLAGS is split into words on purpose
cmd=("$IMSAT" --quiet train --task hash --bits 64 --data "$PHOTOS/train" --holdout 0 \
  --radius "$radius" --soft-check "$soft_check" --seed "$SEED" --out "$run" $TRAIN_FLAGS)
echo "== $name: ${cmd[*]}" >&2
start=$(date +%s)
# A rebuild replaces the previous run in RUNS_DIR (the card records the command without it).
"${cmd[@]}" --overwrite >/dev/null
train_seconds=$(( $(date +%s) - start ))
cp "$run/model.onnx" "$MODELS_DIR/$name.onnx"
cp "$run/model.int8.onnx" "$MODELS_DIR/$name.int8.onnx"
# In-sample check of the int8 export (agreement with f32, encode cost) on the training photos.
in_sample=$("$IMSAT" eval --task copy-detection --model "$MODELS_DIR/$name.int8.onnx" \
  --reference "$MODELS_DIR/$name.onnx" --data "$PHOTOS/train" --groups "$PHOTOS/manifest.csv")

size_f32=$(stat -c %s "$MODELS_DIR/$name.onnx")
size_int8=$(stat -c %s "$MODELS_DIR/$name.int8.onnx")
python3 - "$MODELS_DIR/$name.md" "$run/report.json" "$CV_WORK" "$in_sample" "${cmd[*]}" \
  "$train_seconds" "$SEED" "$size_f32" "$size_int8" \
  "$(sha256sum "$MODELS_DIR/$name.onnx" | cut -d' ' -f1)" \
  "$(sha256sum "$MODELS_DIR/$name.int8.onnx" | cut -d' ' -f1)" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$TRAIN_FLAGS" \
  "$(python3 models/card_objective.py "$run/config.json")" <<'PY'
import json, sys, datetime, glob, os, re, statistics
(out, report_path, cv, in_sample, command, seconds, seed, size_f32, size_int8,
 sha_f32, sha_int8, commit, flags, objective) = sys.argv[1:]
report = json.load(open(report_path))
ins = json.loads(in_sample)
# The folds scored, by number (after an ONLY_FOLD=k run, fold k alone; fold10 after fold9).
scored = {int(m[1]): p for p in glob.glob(os.path.join(cv, "fold*", "eval.json"))
          if (m := re.fullmatch(r"fold([0-9]+)", os.path.basename(os.path.dirname(p))))}
fold_ids = sorted(scored)
folds = [json.load(open(scored[k])) for k in fold_ids]
if not folds:
    sys.exit(f"{cv}: no fold*/eval.json (a finished models/cv_photo.sh run)")
names = ["learned", "phash", "dhash"]
def h(e, i):
    return e["hashes"][i]
def mean(vals):
    return sum(vals) / len(vals)
conv = report.get("conv")
if conv:
    k, g = conv["kernel"], conv["grid"]
    network = (f"{conv['channels']} convolution kernels of {k}x{k} (stride {conv['stride']}), ReLU, average pooling "
               f"to a {g}x{g} grid, then a linear layer to the bits (exported as two dense layers)")
    split = report.get("colour_split")
    if split:
        network += (f"; only the last {split['kernels']} kernels see the chroma planes, and only the last "
                    f"{split['bits']} bits see their features (`--colour-split {split['kernels']},{split['bits']}`): "
                    f"a grayscale copy can move those {split['bits']} bits alone")
else:
    network = "linear encoder"
view, *parts = report['view'].split('+')
unbox = 'unbox' in parts
parts = [p for p in parts if p != 'unbox']
side = view.split('-')[2].replace('x', '*')
colour = view.split('-')[0] == 'ycc'
if colour:
    side = "3*" + side
stretch = {'norm': 'contrast stretched to mean 128 and standard deviation 48',
           'robust': 'contrast stretched by median and quartiles (median 128, interquartile range 1.349 x 48)',
           'raw': 'no contrast stretch'}[view.split('-')[3]]
if colour:
    stretch += ", the chroma planes centred on 128 and scaled by the same gain (at most 4)"
looks = {'centre': 'the centred part keeping {}% of the area', 'top': 'the top {}% of the rows',
         'bottom': 'the bottom {}% of the rows'}
described = [looks[m[1]].format(m[2]) for m in (re.fullmatch(r'([a-z]+)([0-9]+)', p) for p in parts)]
if described:
    stretch += (f"; and the same of {' and of '.join(described)}: the model runs on each "
                f"({1 + len(parts)} rows per photo) and the logits are averaged")
fill = ("first a caption box pasted over the photo, if it has one, is filled in from the rows around it "
        "(`+unbox`, `imsat_runtime::view::unbox`: one colour around its lettering and logo, a sharp rectangle "
        "over 1-15% of the photo); then " if unbox else "")
lines = ["# Model card: photo64", "",
 "| | |", "|---|---|",
 f"| What | IMSAT copy-detection hash, 64 bits, {network} on the view below |",
 f"| Objective | {objective} |",
 f"| Files | `photo64.onnx` (f32, {int(size_f32):,} bytes), `photo64.int8.onnx` (int8, one weight scale per output column, rounded by GPTQ, {int(size_int8):,} bytes, {int(size_int8)/int(size_f32):.3f}x) |",
 f"| SHA-256 | f32 `{sha_f32}`<br>int8 `{sha_int8}` |",
 f"| Input | a photo of any size through the view `{report['view']}` (metadata `imsat.view`: {fill}{'BT.601 luma and chroma (Cb, Cr), each area-resized; luma ' if colour else 'BT.601 luma, area resize, '}{stretch}), then `pixels` f32 `[N, {side}]` |",
 "| Output | `logits` f32 `[N, 64]`; bit p = logit p > 0 |",
 f"| Data | all {report['photos_train']} photos of `../shared/data/photos/train` ({report['items']} items: each photo and random crops of it) |",
 f"| Edits learned (SAT) | {', '.join(report['edits'])} (flip not included) |",
 f"| Dedup radius | {report['radius_at_fpr_1e-4']}: the median over the {len(folds)} folds below of the Hamming threshold at FPR 1e-4 on held-out photos' moderate edits (metadata `imsat.dedup_radius`; the runtime reads it as `ModelInfo::dedup_radius`) |",
 f"| Soft check | candidates within {report['soft_check']['radius']} bits (the folds' median Hamming threshold at FPR 1e-2) are duplicates when their soft distance is at most {report['soft_check']['distance']} (the folds' median at FPR 1e-4); metadata `imsat.dedup_soft_radius` and `imsat.dedup_soft_distance`, `ModelInfo::soft_check`; `imsat dedup` uses it by default |",
 f"| Seed | {seed} |",
 f"| Trained | {datetime.date.today()}, commit {commit}, {seconds} s on 2 cores |",
 "", "## Command", "", "```", f"models/cv_photo.sh {flags}".rstrip() + "   # the estimate below", command, "```", "",
 f"## Copy detection on photos the model never saw: group {len(folds)}-fold estimate (`models/cv_photo.sh`)", "",
 f"The photo groups (the tiles of one picture) are dealt into {len(folds)} folds; for each fold the same recipe is "
 "trained on the other folds and `imsat eval --task copy-detection` scores its int8 model on the held-out photos "
 "(20 edited copies each, JPEG q90), with pHash (`Median` + DCT) and dHash (`Gradient`) of `image_hasher` in the same run. "
 "TPR at FPR 1e-3 over pairs of photos of different groups (as the benchmark counts false positives: a tile is a crop of "
 "its picture's full frame, not a false match of it); the shipped model saw every photo, so this is the estimate for new photos.", "",
 "| fold | photos | negative pairs (moderate / strong) | photo64 int8 moderate | strong | pHash moderate | strong | dHash moderate | strong | int8 bits = f32 |",
 "|---|---|---|---|---|---|---|---|---|---|"]
for k, e in zip(fold_ids, folds):
    row = [str(k), str(e["photos"]), f"{h(e,0)['moderate']['negative_pairs']:,} / {h(e,0)['strong']['negative_pairs']:,}"]
    for i in range(3):
        row += [f"{h(e,i)['moderate']['tpr_at_fpr_1e-3']:.3f}", f"{h(e,i)['strong']['tpr_at_fpr_1e-3']:.3f}"]
    row.append(f"{100*e['bits_equal_to_reference']:.2f}%")
    lines.append("| " + " | ".join(row) + " |")
row = ["**mean**", str(sum(e["photos"] for e in folds)), ""]
for i in range(3):
    for g in ("moderate", "strong"):
        row.append(f"**{mean([h(e,i)[g]['tpr_at_fpr_1e-3'] for e in folds]):.3f}**")
row.append(f"**{100*mean([e['bits_equal_to_reference'] for e in folds]):.2f}%**")
lines.append("| " + " | ".join(row) + " |")
soft = [next(x for x in e["hashes"] if x.get("distance") == "soft") for e in folds]
per_fold = ", ".join(f"{s['moderate']['tpr_at_fpr_1e-3']:.3f} / {s['strong']['tpr_at_fpr_1e-3']:.3f}" for s in soft)
lines += ["", f"By soft distance (the per-bit confidences of the same int8 model; what the soft check confirms with), "
          f"TPR at FPR 1e-3 moderate / strong: **{mean([s['moderate']['tpr_at_fpr_1e-3'] for s in soft]):.3f} / "
          f"{mean([s['strong']['tpr_at_fpr_1e-3'] for s in soft]):.3f}** (per fold {per_fold}); at FPR 1e-4 "
          f"{mean([s['moderate']['tpr_at_fpr_1e-4'] for s in soft]):.3f} / {mean([s['strong']['tpr_at_fpr_1e-4'] for s in soft]):.3f}."]
pil_path = os.path.join(cv, "pil.jsonl")
if os.path.exists(pil_path):
    pil = json.loads(open(pil_path).read().splitlines()[-1])
    lines += ["", "The same held-out photos edited by Pillow instead (`models/pil_protocol.py`: Pillow's resampling, "
              "rotation, JPEG encoder and blur, a caption in Pillow's font), hashed through `imsat encode`, TPR at FPR 1e-3 "
              f"moderate / strong: photo64 int8 **{pil['learned_moderate']:.3f} / {pil['learned_strong']:.3f}** (caption box "
              f"{pil['learned_caption_5']:.3f}), imagehash's pHash {pil['phash_moderate']:.3f} / {pil['phash_strong']:.3f} "
              f"(caption box {pil['phash_caption_5']:.3f})."]
lines += ["", "Mean over folds of TPR at FPR 1e-4 and mAP of the original:", "",
          "| hash | moderate TPR@1e-4 | moderate mAP | strong TPR@1e-4 | strong mAP |", "|---|---|---|---|---|"]
for i, n in enumerate(["photo64 int8", "pHash", "dHash"]):
    v = [mean([h(e,i)[g][m] for e in folds]) for g, m in
         [("moderate", "tpr_at_fpr_1e-4"), ("moderate", "map"), ("strong", "tpr_at_fpr_1e-4"), ("strong", "map")]]
    lines.append(f"| {n} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
lines += ["", "Per edit, mean over folds of TPR at FPR 1e-3 (photo64 int8 / pHash / dHash):", "",
          "| edit | photo64 int8 | pHash | dHash |", "|---|---|---|---|"]
for group in ["moderate", "strong", "flip"]:
    for edit in h(folds[0], 0)[group]["tpr_per_edit_at_fpr_1e-3"]:
        vals = [mean([h(e,i)[group]["tpr_per_edit_at_fpr_1e-3"][edit] for e in folds]) for i in range(3)]
        lines.append(f"| {edit} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
enc = mean([e["encode_ms_per_photo"]["model"] for e in folds]), mean([e["encode_ms_per_photo"]["phash"] for e in folds])
lines += ["",
  f"The shipped int8 model against its f32 model on the training photos (the originals, four views each): {100*ins['bits_equal_to_reference']:.2f}% of code bits equal.",
  f"Encode cost per photo, end to end from the JPEG file (decode + view + encode, one thread, mean over the folds' runs): photo64 int8 {enc[0]:.2f} ms, pHash {enc[1]:.2f} ms.",
  "", "## Training report", "", "```json", json.dumps(report), "```", "",
  "## Limits", "",
  f"Trained on {report['photos_train']} photos (mostly landscapes, wallpapers and test images from Debian packages and two Python wheels). "
  "Each fold holds out 29 to 56 photos: TPR differences of 0.01-0.02 between settings are within the spread of the folds. "
  "On pictures unlike these (drawings, flat wallpapers) the learned hash was measured at pHash's level or below (`photo64-experiments.md`). Photographs from elsewhere, for testing only: 14 darker ones among `enlightenment-data`'s backgrounds (70 images; `models/enlightenment_photos.sh`) and 195 from Debian's `gcompris-qt-data` (363 images; `models/gcompris_photos.sh`), where pHash scores what the benchmark gives for its hidden set; this model's scores on them are in the README (\"Near-duplicate photos\"). "
  "A caption box that is not one flat colour (a translucent banner, a gradient plate) is filled in only where its edges show all round (on the folds' Pillow copies the caption edit scores 0.964 and 0.922 with such boxes, 0.995 with the plain one, 0.978 with an outlined one; a square logo plate is filled when it holds a logo and a word, 0.926: `models/photo64-experiments.md`). "
  "A mirrored copy is not a near-duplicate for this model (flip was not in its edit family); train with `--edits` including `flip` for that."]
open(out, "w").write("\n".join(lines) + "\n")
PY
# The codes every target must reproduce (runtime/tests/photo_codes.rs) change with the model.
# Compared as paths: a MODELS_DIR given is absolute by now, the repository's models/ too.
if [ "$(realpath -m -- "$MODELS_DIR")" = "$(realpath -m models)" ]; then
  IMSAT_WRITE_CODES=1 cargo test --release --quiet --workspace --test photo_codes >&2
fi
echo "== $name done: $MODELS_DIR/$name.md" >&2
