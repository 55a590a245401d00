#!/usr/bin/env python3
"""The copy-detection protocol of models/pil_protocol.py with every edit made by OpenCV
(cv2.imread / cv2.imencode / cv2.imwrite, resize, warpAffine, GaussianBlur, cvtColor,
rectangle / circle / putText), hashed by `imsat encode` on the fold models of a finished
models/cv_photo.sh work folder, scored exactly as pil_protocol.py scores (its `score` and
`encode` are imported), beside imagehash's pHash on the same files.

    python3 models/cv2_protocol.py WORK IMSAT                 # the headline variant ("default")
    python3 models/cv2_protocol.py WORK IMSAT --variants all  # every variant below
    python3 models/cv2_protocol.py WORK IMSAT --variants default,brightness_add

WORK is a finished models/cv_photo.sh run, IMSAT the imsat binary. Needs numpy, pillow,
imagehash and opencv-python-headless (5.1.0 and 4.12.0 measured; their rotations and putText
fonts differ slightly). The README's "Edits made with OpenCV" paragraph gives the results.

Copies go to WORK/foldK/cv2_copies/VARIANT/ (TAG=x: x_copies/, codes in x_*.csv) as JPEG q90 (cv2.imwrite with
IMWRITE_JPEG_QUALITY 90, OpenCV's default 4:2:0 chroma subsampling), except the JPEG edits
(jpeg_q30, jpeg_q50 and the strong combination ending in jpeg_50), whose file is the
cv2.imencode output at that quality itself (no second save). Originals are read with
cv2.imread(path) (IMREAD_COLOR: 3-channel BGR, also for the 9 single-channel originals).

One JSON line per (variant, fold) and one mean line per variant (TPR at FPR 1e-3 / 1e-4 for
moderate and strong, and the per-edit TPR at FPR 1e-3, each a mean over the folds).
"""
import argparse, csv, json, math, os, random, shutil

import cv2
import imagehash
import numpy as np
from PIL import Image

from fold_runs import trained_folds
from pil_protocol import encode, inscribed, score

CAPTION_Y = [float(v) for v in os.environ.get("CAPTION_Y", "0.75,1").split(",")]
TAG = os.environ.get("TAG", "cv2")  # names the copies folder and code files (a second run beside)
MANIFEST = os.environ.get("MANIFEST") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "photos", "manifest.csv")
INTER = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
         "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}

# The headline settings; each variant overrides some of them.
DEFAULT = dict(
    jpeg_sampling=None,          # None: OpenCV's default (4:2:0); "444": IMWRITE_JPEG_SAMPLING_FACTOR_444
    save_quality=90,             # the q of the final cv2.imwrite of a copy
    down="linear", up="linear",  # cv2.resize interpolation down and back up (default INTER_LINEAR)
    rotate="inscribed",          # "inscribed": warpAffine then crop the largest upright rectangle;
                                 # "black": keep the size, black corners; "reflect": BORDER_REFLECT_101
    brightness="scale",          # "scale": convertScaleAbs(alpha=f); "add": convertScaleAbs(beta=(f-1)*255);
                                 # "hsv": V channel of COLOR_BGR2HSV times f, clipped, back to BGR
    contrast="mean",             # "mean": alpha=f around the mean gray; "128": around 128; "alpha": alpha=f, beta=0
    gray="1ch",                  # "1ch": cvtColor BGR2GRAY saved single-channel; "3ch": then GRAY2BGR;
                                 # "swapped": COLOR_RGB2GRAY on the BGR array (an RGB/BGR mix-up)
    blur_ksize=0,                # GaussianBlur ksize (0: from sigma, 7 for sigma 1 on 8-bit)
    caption_font=cv2.FONT_HERSHEY_SIMPLEX, caption_thick=1,
    caption_fit=True,            # the word's scale fitted into the box (else set by the height only)
    swap_rb=False,               # every copy written with R and B swapped (an RGB/BGR mix-up)
)
VARIANTS = {
    "default": {},
    "rescale_area_linear": dict(down="area", up="linear"),
    "rescale_area_cubic": dict(down="area", up="cubic"),
    "rescale_linear_cubic": dict(down="linear", up="cubic"),
    "rescale_nearest_linear": dict(down="nearest", up="linear"),
    "rescale_nearest_cubic": dict(down="nearest", up="cubic"),
    "rotate_black": dict(rotate="black"),
    "rotate_reflect": dict(rotate="reflect"),
    "brightness_add": dict(brightness="add"),
    "brightness_hsv": dict(brightness="hsv"),
    "contrast_128": dict(contrast="128"),
    "contrast_alpha": dict(contrast="alpha"),
    "gray_3ch": dict(gray="3ch"),
    "gray_swapped": dict(gray="swapped"),
    "blur_k3": dict(blur_ksize=3),
    "blur_k5": dict(blur_ksize=5),
    "caption_thick2": dict(caption_thick=2),
    "caption_duplex_unfit": dict(caption_font=cv2.FONT_HERSHEY_DUPLEX, caption_thick=2, caption_fit=False),
    "jpeg_444": dict(jpeg_sampling="444"),
    "save_q95": dict(save_quality=95),
    "swap_rb": dict(swap_rb=True),
    # Several of the plain-OpenCV choices at once: additive brightness, contrast as alpha only,
    # rotation keeping the size with black corners, 3-channel gray, JPEG at OpenCV's default 4:2:0.
    "naive_combo": dict(brightness="add", contrast="alpha", rotate="black", gray="3ch"),
}


def jpeg_bytes(img, q, cfg):
    params = [cv2.IMWRITE_JPEG_QUALITY, q]
    if cfg["jpeg_sampling"] == "444":
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buf = cv2.imencode(".jpg", img, params)
    assert ok
    return buf


class Jpeg:
    """A JPEG edit's result: the encoded bytes (written as they are) and the decoded image."""
    def __init__(self, img, q, cfg):
        self.buf = jpeg_bytes(img, q, cfg)
        self.img = cv2.imdecode(self.buf, cv2.IMREAD_UNCHANGED)


def rescale(img, f, cfg):
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=INTER[cfg["down"]])
    return cv2.resize(small, (w, h), interpolation=INTER[cfg["up"]])


def crop(img, area, at):
    h, w = img.shape[:2]
    s = math.sqrt(area)
    cw, ch = round(w * s), round(h * s)
    x, y = round((w - cw) * at[0]), round((h - ch) * at[1])
    return img[y:y + ch, x:x + cw].copy()


def rotate(img, degrees, cfg):
    """cv2.getRotationMatrix2D about (w/2, h/2) (positive: counter-clockwise, as Pillow's
    rotate), warpAffine with its default INTER_LINEAR, same size."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    border = cv2.BORDER_REFLECT_101 if cfg["rotate"] == "reflect" else cv2.BORDER_CONSTANT
    turned = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
    if cfg["rotate"] != "inscribed":
        return turned
    wr, hr = inscribed(w, h, degrees)
    x0, y0 = (w - wr) / 2, (h - hr) / 2
    return turned[math.ceil(y0):math.floor(y0 + hr), math.ceil(x0):math.floor(x0 + wr)].copy()


def brightness(img, f, cfg):
    if cfg["brightness"] == "add":
        return cv2.convertScaleAbs(img, alpha=1.0, beta=(f - 1) * 255)
    if cfg["brightness"] == "hsv":
        if img.ndim == 2:
            return cv2.convertScaleAbs(img, alpha=f, beta=0)
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] * f, 0, 255)
        return cv2.cvtColor(np.round(hsv).astype(np.uint8), cv2.COLOR_HSV2BGR)
    return cv2.convertScaleAbs(img, alpha=f, beta=0)


def contrast(img, f, cfg):
    if cfg["contrast"] == "alpha":
        return cv2.convertScaleAbs(img, alpha=f, beta=0)
    if cfg["contrast"] == "128":
        centre = 128.0
    else:
        g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        centre = float(g.mean())
    return cv2.convertScaleAbs(img, alpha=f, beta=(1 - f) * centre)


def gray(img, cfg):
    if cfg["gray"] == "swapped":
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) if cfg["gray"] == "3ch" else g


def blur(img, sigma, cfg):
    k = cfg["blur_ksize"]
    return cv2.GaussianBlur(img, (k, k), sigmaX=sigma, sigmaY=sigma)


WORDS = ["SAMPLE", "Holiday 2024", "@photos", "COPYRIGHT", "news24"]


def caption(img, area, at, rng, cfg):
    """A filled box over `area` of the picture, 4 times wider than tall (as pil_protocol's
    plain caption): a filled circle as the logo and a word by cv2.putText (Hershey font),
    its height ~60% of the box's, its width fitted into the room beside the logo. The random
    draws are the same in every variant."""
    img = img.copy()
    h, w = img.shape[:2]
    bh = max(8, round(math.sqrt(w * h * area / 4)))
    bw = min(w, round(w * h * area / bh))
    x0, y0 = round((w - bw) * at[0]), round((h - bh) * at[1])
    dark = rng.random() < 0.5
    bg, fg = ((24, 20, 20), (235, 240, 240)) if dark else ((240, 245, 245), (20, 15, 15))  # BGR
    logo = tuple(rng.randrange(256) for _ in range(3))
    word = rng.choice(WORDS)
    cv2.rectangle(img, (x0, y0), (x0 + bw - 1, y0 + bh - 1), bg, thickness=cv2.FILLED)
    m = max(1, bh // 6)
    r = (bh - 2 * m) // 2
    cv2.circle(img, (x0 + bh // 2, y0 + bh // 2), r, logo, thickness=cv2.FILLED, lineType=cv2.LINE_AA)
    font, thick = cfg["caption_font"], cfg["caption_thick"]
    (tw, th), _ = cv2.getTextSize(word, font, 1.0, thick)
    scale = 0.6 * bh / th
    if cfg["caption_fit"]:
        scale = min(scale, (bw - bh - 2 * m) / tw)
    (tw, th), _ = cv2.getTextSize(word, font, scale, thick)
    org = (x0 + bh + m, y0 + (bh + th) // 2)
    cv2.putText(img, word, org, font, scale, fg, thick, cv2.LINE_AA)
    return img


def as_img(x):
    return x.img if isinstance(x, Jpeg) else x


def edits(rng, cfg):
    m, s = "moderate", "strong"
    return [
        ("jpeg_q30", m, lambda i: Jpeg(i, 30, cfg)),
        ("jpeg_q50", m, lambda i: Jpeg(i, 50, cfg)),
        ("rescale_50", m, lambda i: rescale(i, 0.5, cfg)),
        ("rescale_25", m, lambda i: rescale(i, 0.25, cfg)),
        ("crop_80", m, lambda i: crop(i, 0.8, (0.5, 0.5))),
        ("crop_90", m, lambda i: crop(i, 0.9, (0.5, 0.5))),
        ("rotate_+3", m, lambda i: rotate(i, 3, cfg)),
        ("rotate_-3", m, lambda i: rotate(i, -3, cfg)),
        ("brightness_1.2", m, lambda i: brightness(i, 1.2, cfg)),
        ("brightness_0.8", m, lambda i: brightness(i, 0.8, cfg)),
        ("contrast_0.7", m, lambda i: contrast(i, 0.7, cfg)),
        ("gray", m, lambda i: gray(i, cfg)),
        ("blur_1", m, lambda i: blur(i, 1.0, cfg)),
        ("caption_5", m, lambda i: caption(i, 0.05, (rng.random(), rng.uniform(*CAPTION_Y)), rng, cfg)),
        ("crop_60_random", s, lambda i: crop(i, 0.6, (rng.random(), rng.random()))),
        ("rotate_+10", s, lambda i: rotate(i, 10, cfg)),
        ("rotate_-10", s, lambda i: rotate(i, -10, cfg)),
        ("crop_70+rotate_5+jpeg_50", s,
         lambda i: Jpeg(rotate(crop(i, 0.7, (rng.random(), rng.random())), 5, cfg), 50, cfg)),
        ("rescale_33+caption_8+contrast_1.3", s,
         lambda i: contrast(caption(rescale(i, 0.33, cfg), 0.08, (rng.random(), rng.random()), rng, cfg),
                            1.3, cfg)),
    ]


def write_copy(path, out, cfg):
    if cfg["swap_rb"]:
        img = as_img(out)
        if img.ndim == 3:
            img = img[:, :, ::-1]
        buf = jpeg_bytes(np.ascontiguousarray(img), cfg["save_quality"], cfg)
    elif isinstance(out, Jpeg):
        buf = out.buf
    else:
        buf = jpeg_bytes(out, cfg["save_quality"], cfg)
    buf.tofile(path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work")
    p.add_argument("imsat")
    p.add_argument("--variants", default="default", help="comma-separated names, or all: " + ", ".join(VARIANTS))
    p.add_argument("--keep", default="default", help="variants whose copies are kept (comma-separated; "
                   "others are deleted after scoring)")
    args = p.parse_args()
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    keep = set(args.keep.split(","))
    folds = trained_folds(args.work)
    groups = {os.path.basename(r["name"]): r["group"] for r in csv.DictReader(open(MANIFEST))}
    print(json.dumps({"cv2": cv2.__version__, "numpy": np.__version__, "imagehash": imagehash.__version__}),
          flush=True)
    for vname in names:
        cfg = {**DEFAULT, **VARIANTS[vname]}
        rows = []
        for fold in folds:
            d = os.path.join(args.work, fold)
            rng = random.Random(int(os.environ.get("EDIT_SEED", "0")))
            copies_dir = os.path.join(d, f"{TAG}_copies", vname)
            shutil.rmtree(copies_dir, ignore_errors=True)
            os.makedirs(copies_dir)
            meta = {}
            valid = os.path.join(d, "valid")
            for name in sorted(os.listdir(valid)):
                img = cv2.imread(os.path.join(valid, name))
                for edit, strength, make in edits(rng, cfg):
                    c = f"{name[:-4]}__{edit}.jpg"
                    write_copy(os.path.join(copies_dir, c), make(img), cfg)
                    meta[c] = (name, edit, strength)
            model = os.path.join(d, "run", "model.int8.onnx")
            orig_csv = os.path.join(d, f"{TAG}_orig.csv")
            codes = encode(args.imsat, model, valid, orig_csv)
            codes.update(encode(args.imsat, model, copies_dir, os.path.join(d, f"{TAG}_copies_{vname}.csv")))
            phash = {}
            for n in codes:
                path = os.path.join(copies_dir if n in meta else valid, n)
                phash[n] = imagehash.phash(Image.open(path)).hash.flatten().astype(np.uint8)
            row = {"variant": vname, "fold": fold, "photos": len(os.listdir(valid))}
            for hname, c in (("learned", codes), ("phash", phash)):
                row[hname] = score(c, meta, groups, 64)
            print(json.dumps(row), flush=True)
            rows.append(row)
            if vname not in keep:
                shutil.rmtree(copies_dir)
        mean = {"variant": vname, "mean_over_folds": len(rows)}
        for hname in ("learned", "phash"):
            for g in ("moderate", "strong"):
                for key in ("tpr_1e-3", "tpr_1e-4"):
                    mean[f"{hname}_{g}_{key}"] = round(float(np.mean([r[hname][g][key] for r in rows])), 4)
                mean[f"{hname}_{g}_per_fold"] = [r[hname][g]["tpr_1e-3"] for r in rows]
                mean[f"{hname}_{g}_per_edit"] = {
                    e: round(float(np.mean([r[hname][g]["per_edit"][e] for r in rows])), 4)
                    for e in rows[0][hname][g]["per_edit"]}
        print(json.dumps(mean), flush=True)


if __name__ == "__main__":
    main()
