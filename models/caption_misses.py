#!/usr/bin/env python3
"""How far caption-boxed copies land from their original, per held-out photo of a finished
`models/cv_photo.sh` run (`models/photo64-experiments.md`, "Where the remaining moderate copies are lost").

Four caption copies of each held-out photo (the protocol's box: 5% of the area in the bottom
quarter, light or dark, a logo square and word strokes; a Python copy of the trainer's
`caption` edit), saved as JPEG q90 and encoded with the fold's int8 model; prints the share
within each fold's FPR 1e-3 threshold (read from its eval.json), how far the misses are beyond
it, and the farthest copies. Folds without a trained model (after `ONLY_FOLD=k
models/cv_photo.sh`) are skipped.

    python3 models/caption_misses.py WORK target/release/imsat OUT_DIR
    python3 models/caption_misses.py WORK     # the default IMSAT, the copies in WORK/caption_copies
Needs numpy and pillow.
"""
import argparse, json, os, shlex, sys, random, subprocess, numpy as np
from PIL import Image
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument('work', metavar='WORK', help='a finished models/cv_photo.sh work folder')
ap.add_argument('imsat', metavar='IMSAT', nargs='?',
                default=os.path.join(os.environ.get('CARGO_TARGET_DIR', 'target'), 'release', 'imsat'),
                help='the imsat binary (default: %(default)s)')
ap.add_argument('outdir', metavar='OUT_DIR', nargs='?',
                help='where the copies and their codes go (default: WORK/caption_copies)')
args = ap.parse_args()
work, imsat = args.work, args.imsat
outdir = args.outdir or os.path.join(work, 'caption_copies')
if not os.path.isdir(work):
    sys.exit(f'{work}: not a folder')
# The folds present, not four: after ONLY_FOLD=k models/cv_photo.sh only fold k has a model.
folds = []
for f in sorted(os.listdir(work)):
    if not (f.startswith('fold') and os.path.isdir(f'{work}/{f}')):
        continue
    if not os.path.exists(f'{work}/{f}/run/model.int8.onnx'):
        print(f'{f}: skipped, no trained model (run/model.int8.onnx)', file=sys.stderr)
    elif not os.path.exists(f'{work}/{f}/eval.json'):
        sys.exit(f'{work}/{f}: no eval.json, whose FPR 1e-3 threshold this needs (models/cv_photo.sh writes it)')
    else:
        folds.append(f)
if not folds:
    sys.exit(f'{work}: no fold folder with a trained model (fold*/run/model.int8.onnx): '
             'is it a finished models/cv_photo.sh run?')
thr = {k: json.load(open(f'{work}/{k}/eval.json'))['hashes'][0]['moderate']['threshold_at_fpr_1e-3']
       for k in folds}
def encode(model, data, o):
    # imsat's stderr is shown on failure: captured, it would leave only an exit status.
    cmd = [imsat, '--quiet', 'encode', '--model', model, '--data', data, '--out', o]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f'{imsat}: not found (give the imsat binary as IMSAT)')
    except subprocess.CalledProcessError as e:
        sys.exit(f'failed with exit status {e.returncode}: {shlex.join(cmd)}\n{e.stderr.rstrip()}')
rng = random.Random(0)
def caption(img, area, at, dark, logo):
    w, h = img.size
    box = max(1.0, w * h * area)
    bh = min(max(1, round((box / 5) ** 0.5)), h)
    bw = min(max(1, round(box / bh)), w)
    x0 = int((w - bw) * at[0]); y0 = int((h - bh) * at[1])
    a = np.array(img).copy()
    bg, fg = ((20, 20, 24), (240, 240, 235)) if dark else ((245, 245, 240), (15, 15, 20))
    m = max(bh // 5, 1)
    for ly in range(bh):
        for lx in range(bw):
            inner = ly >= m and ly + m < bh
            if inner and m <= lx < max(bh - m, 0):
                c = logo
            elif inner and lx >= bh and (lx // (m + 1)) % 3 != 2 and (lx * 7 // bw) % 4 != 3:
                c = fg
            else:
                c = bg
            a[y0 + ly, x0 + lx] = c
    return Image.fromarray(a)
rows = []
for k in folds:
    d = f'{work}/{k}'
    names = sorted(os.listdir(f'{d}/valid'))
    out = f'{outdir}/{k}'; os.makedirs(out, exist_ok=True)
    for n in names:
        img = Image.open(f'{d}/valid/{n}').convert('RGB')
        for c in range(4):
            e = caption(img, 0.05, (rng.random(), rng.uniform(0.75, 1.0)), rng.random() < 0.5,
                        tuple(rng.randrange(256) for _ in range(3)))
            e.save(f'{out}/{n}.cap{c}.jpg', quality=90)
    model = f'{d}/run/model.int8.onnx'
    encode(model, f'{d}/valid', f'{out}.orig.u64'); encode(model, out, f'{out}.cap.u64')
    bits = lambda f: np.unpackbits(np.fromfile(f, dtype='<u8').view(np.uint8).reshape(-1, 8), axis=1)
    o, cp = bits(f'{out}.orig.u64'), bits(f'{out}.cap.u64')
    cnames = sorted(os.listdir(out))
    for i, cn in enumerate(cnames):
        j = names.index(cn.rsplit('.cap', 1)[0])
        rows.append((k, cn, int((o[j] != cp[i]).sum()), thr[k]))
dist = np.array([r[2] for r in rows]); t = np.array([r[3] for r in rows])
print('copies', len(rows), 'within threshold', (dist <= t).mean().round(3))
print('excess over threshold of the misses:', np.bincount(np.clip(dist[dist > t] - t[dist > t], 0, 20)))
print('distance histogram', np.bincount(dist))
for r in sorted(rows, key=lambda r: r[3] - r[2])[:25]:
    print(r)
