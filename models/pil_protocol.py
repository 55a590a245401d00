#!/usr/bin/env python3
"""The copy-detection protocol redone outside Rust: Pillow makes the edited copies, the
shipped command `imsat encode` hashes them (as the hidden benchmark hands codes over), and
this script scores them, beside imagehash's pHash on the same files.

`imsat eval --task copy-detection` makes its copies with the trainer's own edit code, so it
cannot show how much of a fold estimate depends on how those edits are drawn. Here every edit
is Pillow's (resampling, rotation, JPEG encoder, blur, a caption box with a logo and a word in
Pillow's font), and the scoring is the benchmark's as its README states it: each copy is a
query for its own original among all originals and the copies of the other originals;
negatives are pairs of images of different photo groups; TPR at the largest Hamming threshold
whose FPR is at most 1e-3 (1e-4).

    python3 models/pil_protocol.py WORK [IMSAT]     # WORK: a finished models/cv_photo.sh run

    CAPTION_Y=0,0.25 EDIT_SEED=1 python3 models/pil_protocol.py WORK   # boxes at the top
    CAPTION_STYLE=outline python3 models/pil_protocol.py WORK          # boxes unlike ours

The caption box goes in the bottom quarter (CAPTION_Y, the range of its position in the
vertical slack, default 0.75,1), at a random horizontal position; EDIT_SEED (default 0) draws
the random positions; CAPTION_STYLE (default plain) draws the box otherwise (`colour`,
`translucent`, `outline`, `gradient`, `bold`, `rounded`, `square`: see `caption`). Prints one JSON
line per fold and the mean. Needs numpy, pillow and imagehash.
"""
import argparse, csv, io, json, math, os, random, sys

import imagehash
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont
from fold_runs import run_imsat, trained_folds

CAPTION_STYLE = os.environ.get("CAPTION_STYLE", "plain")
CAPTION_Y = [float(v) for v in os.environ.get("CAPTION_Y", "0.75,1").split(",")]
MANIFEST = os.environ.get("MANIFEST") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "photos", "manifest.csv")


def jpeg(img, q):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=q)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def rescale(img, f):
    w, h = img.size
    small = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BICUBIC)
    return small.resize((w, h), Image.BICUBIC)


def crop(img, area, at):
    w, h = img.size
    s = math.sqrt(area)
    cw, ch = round(w * s), round(h * s)
    x, y = round((w - cw) * at[0]), round((h - ch) * at[1])
    return img.crop((x, y, x + cw, y + ch))


def inscribed(w, h, degrees):
    """The largest upright rectangle inside a w x h rectangle turned by `degrees`: its width
    and height (models/cv2_protocol.py crops OpenCV's rotations to it too)."""
    a = math.radians(abs(degrees))
    long, short = max(w, h), min(w, h)
    sin, cos = math.sin(a), math.cos(a)
    if short <= 2 * sin * cos * long or abs(sin - cos) < 1e-10:
        x = 0.5 * short
        return (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    cos2 = cos * cos - sin * sin
    return (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2


def rotate(img, degrees):
    """Rotate and crop away the black corners: the largest upright rectangle inside."""
    w, h = img.size
    wr, hr = inscribed(w, h, degrees)
    turned = img.rotate(degrees, resample=Image.BICUBIC, expand=False)
    x0, y0 = (w - wr) / 2, (h - hr) / 2
    return turned.crop((math.ceil(x0), math.ceil(y0), math.floor(x0 + wr), math.floor(y0 + hr)))


def caption(img, area, at, rng):
    """A box over `area` of the picture, 4 times wider than tall: a round logo and a word in
    Pillow's own font (whose thin letters leave the box mostly plain). CAPTION_STYLE changes
    the box: `colour` (a random solid colour), `translucent` (light or dark at 60% opacity
    over the picture), `outline` (a 3-px border of the logo's colour), `gradient` (a vertical
    ramp), `bold` (DejaVu Sans Bold letters up to 80% of the box's height, the word fitted
    into the box), `rounded` (corners rounded by a third of the box's height), `square` (as
    tall as wide)."""
    img = img.convert("RGB")
    w, h = img.size
    bh = max(8, round(math.sqrt(w * h * area / (1 if CAPTION_STYLE == "square" else 4))))
    bw = min(w, round(w * h * area / bh))
    x0, y0 = round((w - bw) * at[0]), round((h - bh) * at[1])
    box = (x0, y0, x0 + bw - 1, y0 + bh - 1)
    d = ImageDraw.Draw(img)
    dark = rng.random() < 0.5
    bg, fg = ((20, 20, 24), (240, 240, 235)) if dark else ((245, 245, 240), (15, 15, 20))
    logo = tuple(rng.randrange(256) for _ in range(3))
    if CAPTION_STYLE == "colour":
        bg = tuple(rng.randrange(256) for _ in range(3))
        fg = (255, 255, 255) if sum(bg) < 384 else (0, 0, 0)
    if CAPTION_STYLE == "translucent":
        layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).rectangle(box, fill=bg + (153,))
        img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
        d = ImageDraw.Draw(img)
    elif CAPTION_STYLE == "gradient":
        top, bottom = (bg, fg) if rng.random() < 0.5 else (fg, bg)
        for y in range(bh):
            t = y / max(1, bh - 1)
            row = tuple(round(a + (b - a) * 0.5 * t) for a, b in zip(top, bottom))
            d.line((x0, y0 + y, x0 + bw - 1, y0 + y), fill=row)
    elif CAPTION_STYLE == "rounded":
        d.rounded_rectangle(box, radius=bh // 3, fill=bg)
    else:
        d.rectangle(box, fill=bg, outline=logo if CAPTION_STYLE == "outline" else None,
                    width=3 if CAPTION_STYLE == "outline" else 1)
    m = max(1, bh // 6)
    word = rng.choice(["SAMPLE", "Holiday 2024", "@photos", "COPYRIGHT", "news24"])
    if CAPTION_STYLE == "square":
        # The logo above the word, both inside the box.
        r = bh // 4
        cx = x0 + bw // 2
        d.ellipse((cx - r, y0 + m, cx + r, y0 + m + 2 * r), fill=logo)
        font = ImageFont.load_default(size=max(8, min(bh // 5, 2 * bw // (len(word) + 2))))
        d.text((cx, y0 + bh - m), word, fill=fg, font=font, anchor="mb")
        return img
    d.ellipse((x0 + m, y0 + m, x0 + bh - m, y0 + bh - m), fill=logo)
    if CAPTION_STYLE == "bold":
        # As large as the box's height allows, and no wider than the room beside the logo.
        size, bold = max(8, bh * 8 // 10), "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
        while True:
            font = ImageFont.truetype(bold, size)
            if size <= 8 or d.textlength(word, font=font) <= bw - bh - 2 * m:
                break
            size -= 1
    else:
        font = ImageFont.load_default(size=max(8, bh * 6 // 10))
    d.text((x0 + bh + m, y0 + bh // 2), word, fill=fg, font=font, anchor="lm")
    return img


def moderate_and_strong(rng):
    m, s = "moderate", "strong"
    return [
        ("jpeg_q30", m, lambda i: jpeg(i, 30)),
        ("jpeg_q50", m, lambda i: jpeg(i, 50)),
        ("rescale_50", m, lambda i: rescale(i, 0.5)),
        ("rescale_25", m, lambda i: rescale(i, 0.25)),
        ("crop_80", m, lambda i: crop(i, 0.8, (0.5, 0.5))),
        ("crop_90", m, lambda i: crop(i, 0.9, (0.5, 0.5))),
        ("rotate_+3", m, lambda i: rotate(i, 3)),
        ("rotate_-3", m, lambda i: rotate(i, -3)),
        ("brightness_1.2", m, lambda i: ImageEnhance.Brightness(i).enhance(1.2)),
        ("brightness_0.8", m, lambda i: ImageEnhance.Brightness(i).enhance(0.8)),
        ("contrast_0.7", m, lambda i: ImageEnhance.Contrast(i).enhance(0.7)),
        ("gray", m, lambda i: i.convert("L")),
        ("blur_1", m, lambda i: i.filter(ImageFilter.GaussianBlur(1))),
        ("caption_5", m, lambda i: caption(i, 0.05, (rng.random(), rng.uniform(*CAPTION_Y)), rng)),
        ("crop_60_random", s, lambda i: crop(i, 0.6, (rng.random(), rng.random()))),
        ("rotate_+10", s, lambda i: rotate(i, 10)),
        ("rotate_-10", s, lambda i: rotate(i, -10)),
        ("crop_70+rotate_5+jpeg_50", s,
         lambda i: jpeg(rotate(crop(i, 0.7, (rng.random(), rng.random())), 5), 50)),
        ("rescale_33+caption_8+contrast_1.3", s,
         lambda i: ImageEnhance.Contrast(
             caption(rescale(i, 0.33), 0.08, (rng.random(), rng.random()), rng)).enhance(1.3)),
    ]


def encode(imsat, model, folder, out):
    run_imsat([imsat, "--quiet", "encode", "--model", model, "--data", folder, "--out", out])
    rows = [l.split(",") for l in open(out).read().splitlines()[1:]]
    return {os.path.basename(n): np.unpackbits(np.frombuffer(bytes.fromhex(h), np.uint8))
            for n, h in rows}


def score(codes, meta, groups, n_bits):
    """meta: copy name -> (original name, edit, strength); codes: name -> bit array (originals
    and copies); groups: original name -> photo group. Returns per strength the TPR at FPR
    1e-3 and 1e-4, their thresholds, the negative pairs, and the TPR per edit at FPR 1e-3."""
    originals = sorted({o for o, _, _ in meta.values()})
    out = {}
    for strength in ("moderate", "strong"):
        copies = sorted(c for c, (_, _, s) in meta.items() if s == strength)
        q = np.array([codes[c] for c in copies], dtype=np.int32)
        db_names = originals + copies
        db = np.array([codes[n] for n in db_names], dtype=np.int32)
        dist = (q[:, None, :] != db[None, :, :]).sum(-1)
        src = [meta[c][0] for c in copies]
        db_src = originals + src
        qg = np.array([groups[s] for s in src])
        dg = np.array([groups[s] for s in db_src])
        negative = qg[:, None] != dg[None, :]
        pos = np.array([dist[i, db_names.index(src[i])] for i in range(len(copies))])
        hist = np.bincount(dist[negative], minlength=n_bits + 1).cumsum() / negative.sum()
        res = {"negatives": int(negative.sum())}
        for target, key in ((1e-3, "1e-3"), (1e-4, "1e-4")):
            ok = np.nonzero(hist <= target)[0]
            t = int(ok.max()) if len(ok) else -1
            res[f"threshold_{key}"] = t
            res[f"tpr_{key}"] = round(float((pos <= t).mean()), 4)
            if key == "1e-3":
                edits = sorted({meta[c][1] for c in copies})
                res["per_edit"] = {e: round(float((pos[[meta[c][1] == e for c in copies]] <= t).mean()), 3)
                                   for e in edits}
        out[strength] = res
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", metavar="WORK", help="a finished models/cv_photo.sh (or models/score_photos.sh) "
                   "work folder: fold*/valid/ and fold*/run/model.int8.onnx")
    p.add_argument("imsat", metavar="IMSAT", nargs="?",
                   default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "imsat"),
                   help="the imsat binary (default: %(default)s)")
    args = p.parse_args()
    work, imsat = args.work, args.imsat
    folds = trained_folds(work)
    groups = {os.path.basename(r["name"]): r["group"] for r in csv.DictReader(open(MANIFEST))}
    means = {}
    for fold in folds:
        d = os.path.join(work, fold)
        rng = random.Random(int(os.environ.get("EDIT_SEED", "0")))
        copies_dir = os.path.join(d, "pil_copies")
        os.makedirs(copies_dir, exist_ok=True)
        meta = {}
        for name in sorted(os.listdir(os.path.join(d, "valid"))):
            img = Image.open(os.path.join(d, "valid", name))
            img.load()
            for edit, strength, make in moderate_and_strong(rng):
                c = f"{name[:-4]}__{edit}.jpg"
                make(img).save(os.path.join(copies_dir, c), quality=90)
                meta[c] = (name, edit, strength)
        model = os.path.join(d, "run", "model.int8.onnx")
        codes = encode(imsat, model, os.path.join(d, "valid"), os.path.join(d, "pil_orig.csv"))
        codes.update(encode(imsat, model, copies_dir, os.path.join(d, "pil_copies.csv")))
        phash = {}
        for n in codes:
            p = os.path.join(copies_dir if n in meta else os.path.join(d, "valid"), n)
            phash[n] = imagehash.phash(Image.open(p)).hash.flatten().astype(np.uint8)
        row = {"fold": fold, "photos": len(os.listdir(os.path.join(d, "valid")))}
        for name, c in (("learned", codes), ("phash", phash)):
            s = score(c, meta, groups, 64)
            row[name] = s
            for g in ("moderate", "strong"):
                means.setdefault((name, g), []).append(s[g]["tpr_1e-3"])
            means.setdefault((name, "caption_5"), []).append(s["moderate"]["per_edit"]["caption_5"])
        print(json.dumps(row), flush=True)
    print(json.dumps({"mean_over_folds": len(folds),
                      **{f"{n}_{g}": round(float(np.mean(v)), 4) for (n, g), v in means.items()}}))


if __name__ == "__main__":
    main()
