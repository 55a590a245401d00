#!/usr/bin/env python3
"""How `imsat dedup` groups photos it never saw: on each fold of a finished
`models/cv_photo.sh` run (with `models/pil_protocol.py`'s copies), the held-out photos and
their Pillow copies go into one folder, the fold's int8 model groups them, and each grouping
is scored against the manifest: the share of copies (moderate, strong) in their original's
group, and the pairs of images of different pictures put in one group, and the pictures a user keeping
one image a group would lose (each group's pictures but one).

    python3 models/dedup_folds.py WORK [IMSAT] [-- DEDUP FLAGS ...]

Without flags it scores the groupings the linkage choice rests on (single and complete
linkage, by the soft check and by codes alone at several radii). Prints one JSON line per
fold and grouping, then the sums over folds. Needs the copies `pil_protocol.py` leaves in
each fold's `pil_copies/`.
"""
import argparse, csv, itertools, json, os, sys
from fold_runs import run_imsat, trained_folds

MANIFEST = os.environ.get("MANIFEST") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "photos", "manifest.csv")
STRONG = ("crop_60_random", "rotate_+10", "rotate_-10", "crop_70+rotate_5+jpeg_50",
          "rescale_33+caption_8+contrast_1.3")
GROUPINGS = [
    ("single, soft check", []),
    ("complete, soft check", ["--linkage", "complete"]),
    ("single, codes r=10", ["--no-soft-check", "--radius", "10"]),
] + [(f"complete, codes r={r}", ["--linkage", "complete", "--no-soft-check", "--radius", str(r)])
     for r in (10, 12, 14, 17)]


def score(groups_out, picture_of):
    members = groups_out["group_members"]
    group_of = {os.path.basename(m): k for k, g in enumerate(members) for m in g}
    res = {"moderate": [0, 0], "strong": [0, 0]}
    for name in picture_of:
        if "__" not in name:
            continue
        orig, edit = name.split("__", 1)
        edit = edit[: -len(".jpg")]
        original = next(o for o in (orig + ".jpg", orig + ".png") if o in picture_of)
        s = "strong" if edit in STRONG else "moderate"
        res[s][1] += 1
        res[s][0] += name in group_of and group_of.get(original) == group_of[name]
    wrong = mixed = lost = 0
    for g in members:
        pics = [picture_of[os.path.basename(m)] for m in g]
        w = sum(a != b for a, b in itertools.combinations(pics, 2))
        wrong += w
        mixed += w > 0
        lost += len(set(pics)) - 1
    return {
        "groups": len(members),
        "mixed_groups": mixed,
        "wrong_pairs": wrong,
        "pictures_lost": lost,
        "largest": max(map(len, members), default=0),
        "moderate_with_original": res["moderate"],
        "strong_with_original": res["strong"],
    }


def main():
    args = sys.argv[1:]
    # What follows `--` is imsat dedup's, split off before argparse could read it as ours.
    extra = args[args.index("--") + 1:] if "--" in args else None
    args = args[: args.index("--")] if "--" in args else args
    p = argparse.ArgumentParser(usage="%(prog)s [-h] WORK [IMSAT] [-- DEDUP FLAGS ...]", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="DEDUP FLAGS: `imsat dedup` flags for one grouping, scored instead of "
                                       "the default ones")
    p.add_argument("work", metavar="WORK", help="a finished models/cv_photo.sh (or models/score_photos.sh) "
                   "work folder, after models/pil_protocol.py")
    p.add_argument("imsat", metavar="IMSAT", nargs="?",
                   default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "imsat"),
                   help="the imsat binary (default: %(default)s)")
    a = p.parse_args(args)
    work, imsat = a.work, a.imsat
    groupings = [(" ".join(extra), extra)] if extra is not None else GROUPINGS
    folds = trained_folds(work, need_copies=True)
    pictures = {os.path.basename(r["name"]): r["group"] for r in csv.DictReader(open(MANIFEST))}
    totals = {}
    for fold in folds:
        d = os.path.join(work, fold)
        both = os.path.join(d, "dedup_all")
        os.makedirs(both, exist_ok=True)
        picture_of = {}
        for sub in ("valid", "pil_copies"):
            for n in os.listdir(os.path.join(d, sub)):
                dst = os.path.join(both, n)
                if not os.path.lexists(dst):
                    os.symlink(os.path.realpath(os.path.join(d, sub, n)), dst)
                orig = n.split("__", 1)[0]
                key = n if "__" not in n else next(
                    o for o in (orig + ".jpg", orig + ".png") if o in pictures)
                picture_of[n] = pictures[key]
        model = os.path.join(d, "run", "model.int8.onnx")
        for label, flags in groupings:
            out = run_imsat([imsat, "--quiet", "dedup", "--model", model, "--json", *flags, both])
            row = score(json.loads(out.strip().splitlines()[-1]), picture_of)
            print(json.dumps({"fold": fold, "grouping": label, **row}), flush=True)
            t = totals.setdefault(label, {"wrong_pairs": 0, "mixed_groups": 0, "groups": 0, "pictures_lost": 0,
                                          "moderate": [0, 0], "strong": [0, 0]})
            for k in ("wrong_pairs", "mixed_groups", "groups", "pictures_lost"):
                t[k] += row[k]
            for s in ("moderate", "strong"):
                t[s] = [a + b for a, b in zip(t[s], row[f"{s}_with_original"])]
    for label, t in totals.items():
        print(json.dumps({"grouping": label, "groups": t["groups"], "mixed_groups": t["mixed_groups"],
                          "wrong_pairs": t["wrong_pairs"], "pictures_lost": t["pictures_lost"],
                          "moderate_with_original": round(t["moderate"][0] / max(1, t["moderate"][1]), 4),
                          "strong_with_original": round(t["strong"][0] / max(1, t["strong"][1]), 4)}))


if __name__ == "__main__":
    main()
