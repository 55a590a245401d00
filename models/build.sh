#!/usr/bin/env bash
# Train, export, evaluate and document the shipped models:
#   cluster10 (K=10), hash16, hash32, hash64 on the bundled MNIST-10k, seed 0.
#
#   models/build.sh                       # all four, the training defaults
#   models/build.sh hash32                # just one
#   TRAIN_FLAGS="--epochs 2 --limit 2000 --hidden 400,400" MODELS_DIR=/tmp/m models/build.sh
#                                          # a quick dry run somewhere else
#
# For each model NAME it writes, into MODELS_DIR (default: models/):
#   NAME.onnx       f32 model       (raw pixels f32 [N,784] in 0..255 -> logits)
#   NAME.int8.onnx  calibrated int8 (same input and output)
#   NAME.md         the model card (models/CARD_TEMPLATE.md filled in)
# and keeps the training folder (report, config, history, curves) in RUNS_DIR/NAME.
set -euo pipefail
# Paths the caller gives are read from the caller's folder, not from the repository root the
# script moves to (the defaults below are the repository's).
[ -z "${MODELS_DIR:-}" ] || MODELS_DIR=$(realpath -m -- "$MODELS_DIR")
[ -z "${RUNS_DIR:-}" ] || RUNS_DIR=$(realpath -m -- "$RUNS_DIR")
cd "$(dirname "$0")/.."

MODELS_DIR=${MODELS_DIR:-models}
RUNS_DIR=${RUNS_DIR:-runs/models}
SEED=${SEED:-0}
TRAIN_FLAGS=${TRAIN_FLAGS:-}
DATA=data/mnist10k/images-idx3-ubyte.gz
LABELS=data/mnist10k/labels-idx1-ubyte.gz
ALL=(cluster10 hash16 hash32 hash64)
NAMES=("${@:-${ALL[@]}}")

cargo build --release --quiet
IMSAT=${CARGO_TARGET_DIR:-target}/release/imsat
mkdir -p "$MODELS_DIR" "$RUNS_DIR"

for name in "${NAMES[@]}"; do
  case "$name" in
    cluster*) task=(--task cluster --classes "${name#cluster}") ;;
    hash*)    task=(--task hash --bits "${name#hash}") ;;
    *) echo "unknown model name $name (cluster<K> or hash<M>)" >&2; exit 2 ;;
  esac
  run="$RUNS_DIR/$name"
  # shellcheck disable=SC2206  # TRAIN_FLAGS is split into words on purpose
  cmd=("$IMSAT" --quiet train "${task[@]}" --data "$DATA" --labels "$LABELS" --seed "$SEED" --out "$run" $TRAIN_FLAGS)
  echo "== $name: ${cmd[*]}" >&2
  start=$(date +%s)
  # A rebuild replaces the previous run in RUNS_DIR (the card's command is without --overwrite;
  # report.json's `command` has it).
  "${cmd[@]}" --overwrite >/dev/null
  train_seconds=$(( $(date +%s) - start ))
  cp "$run/model.onnx" "$MODELS_DIR/$name.onnx"
  cp "$run/model.int8.onnx" "$MODELS_DIR/$name.int8.onnx"
  eval_f32=$("$IMSAT" eval --model "$MODELS_DIR/$name.onnx" --data "$DATA" --labels "$LABELS")
  eval_int8=$("$IMSAT" eval --model "$MODELS_DIR/$name.int8.onnx" --data "$DATA" --labels "$LABELS" \
    --reference "$MODELS_DIR/$name.onnx")
  size_f32=$(stat -c %s "$MODELS_DIR/$name.onnx")
  size_int8=$(stat -c %s "$MODELS_DIR/$name.int8.onnx")
  sha_f32=$(sha256sum "$MODELS_DIR/$name.onnx" | cut -d' ' -f1)
  sha_int8=$(sha256sum "$MODELS_DIR/$name.int8.onnx" | cut -d' ' -f1)
  report=$(tr -d '\n' < "$run/report.json" | tr -s ' ')
  fill() { # a literal replacement of {{KEY}} in the template, safe for any characters
    python3 -c 'import sys; t=sys.stdin.read(); [t:=t.replace("{{"+k+"}}", v) for k, v in zip(sys.argv[1::2], sys.argv[2::2])]; sys.stdout.write(t)' "$@"
  }
  fill NAME "$name" TASK "${task[*]}" SEED "$SEED" DATE "$(date -u +%Y-%m-%d)" \
    COMMAND "${cmd[*]}" TRAIN_SECONDS "$train_seconds" \
    OBJECTIVE "$(python3 models/card_objective.py "$run/config.json")" \
    COMMIT "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    REPORT "$report" EVAL_F32 "$eval_f32" EVAL_INT8 "$eval_int8" \
    SIZE_F32 "$size_f32" SIZE_INT8 "$size_int8" SHA_F32 "$sha_f32" SHA_INT8 "$sha_int8" \
    RATIO "$(python3 -c "print(f'{$size_int8/$size_f32:.3f}')")" \
    < models/CARD_TEMPLATE.md > "$MODELS_DIR/$name.md"
  echo "== $name done: $MODELS_DIR/$name.md" >&2
done
