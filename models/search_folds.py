#!/usr/bin/env python3
"""Looking new photos up in a library, scored on photos the model never saw: for each fold of
a finished `models/cv_photo.sh` run (which leaves `valid/`, the held-out photos, Pillow's
edited copies of them in `pil_copies/` and the fold's model in `run/`), `imsat index build`
indexes the held-out originals, and every copy is looked up with `imsat search --query`:

- `--copies`: the fold model's soft check (candidates within its soft radius, confirmed by
  soft distance), the decision `imsat dedup` makes;
- `--radius R`: the same model's dedup radius, by Hamming distance alone.

A copy is found when its own original is among the answers; an answer naming a photo of
another picture (manifest group) is a false report. Prints one JSON line per fold and the
sums over the folds.

    python3 models/search_folds.py WORK [IMSAT]
"""
import argparse, csv, json, os, sys
from fold_runs import run_imsat, trained_folds

MANIFEST = os.environ.get("MANIFEST") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "photos", "manifest.csv")
STRONG = ("crop_60_random", "rotate_+10", "rotate_-10", "crop_70+rotate_5+jpeg_50",
          "rescale_33+caption_8+contrast_1.3")


def search(imsat, index, model, queries, how):
    out = run_imsat([imsat, "--quiet", "search", "--index", index, "--model", model,
                     "--query", queries, "--json", *how])
    lines = [json.loads(l) for l in out.splitlines()]
    return lines[:-1], lines[-1]


def tally(lines, groups):
    t = {"moderate": [0, 0], "strong": [0, 0], "false_reports": 0, "queries": 0,
         "queries_with_a_false_report": 0}
    for line in lines:
        name = os.path.basename(line["query"])
        original, edit = name[:-4].split("__", 1)
        original += ".jpg"
        strength = "strong" if edit in STRONG else "moderate"
        found = [os.path.basename(n) for n in line["names"]]
        t[strength][0] += original in found
        t[strength][1] += 1
        false = sum(groups[f] != groups[original] for f in found)
        t["false_reports"] += false
        t["queries_with_a_false_report"] += false > 0
        t["queries"] += 1
    return t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", metavar="WORK", help="a finished models/cv_photo.sh (or models/score_photos.sh) "
                   "work folder, after models/pil_protocol.py")
    p.add_argument("imsat", metavar="IMSAT", nargs="?",
                   default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "imsat"),
                   help="the imsat binary (default: %(default)s)")
    args = p.parse_args()
    work, imsat = args.work, args.imsat
    folds = trained_folds(work, need_copies=True)
    groups = {os.path.basename(r["name"]): r["group"] for r in csv.DictReader(open(MANIFEST))}
    sums = {}
    for fold in folds:
        d = os.path.join(work, fold)
        model, index = os.path.join(d, "run", "model.int8.onnx"), os.path.join(d, "lib.idx")
        run_imsat([imsat, "--quiet", "index", "build", "--model", model, "--data",
                   os.path.join(d, "valid"), "--out", index])
        queries = os.path.join(d, "pil_copies")
        copies, summary = search(imsat, index, model, queries, ["--copies"])
        radius = summary["dedup_radius"]
        by_radius, _ = search(imsat, index, model, queries, ["--radius", str(radius)])
        row = {"fold": fold, "photos": len(os.listdir(os.path.join(d, "valid"))),
               "copies_rule": summary["copies"], "dedup_radius": radius}
        for key, lines in (("copies", copies), ("radius", by_radius)):
            t = tally(lines, groups)
            row[key] = t
            s = sums.setdefault(key, {"moderate": [0, 0], "strong": [0, 0], "false_reports": 0,
                                      "queries": 0, "queries_with_a_false_report": 0})
            for k in ("moderate", "strong"):
                s[k] = [s[k][0] + t[k][0], s[k][1] + t[k][1]]
            for k in ("false_reports", "queries", "queries_with_a_false_report"):
                s[k] += t[k]
        print(json.dumps(row), flush=True)
    print(json.dumps({"folds": len(folds), **{
        key: {"moderate_found": round(s["moderate"][0] / s["moderate"][1], 4),
              "strong_found": round(s["strong"][0] / s["strong"][1], 4),
              "false_reports": s["false_reports"], "queries": s["queries"],
              "queries_with_a_false_report": s["queries_with_a_false_report"]}
        for key, s in sums.items()}}))


if __name__ == "__main__":
    main()
