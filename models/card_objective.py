#!/usr/bin/env python3
"""The objective a model was trained with, as its card states it, from the run's config.json.

A card's "IMSAT" alone would let a reader take the model for the paper's recipe, which the
trainer's defaults are not (README, "Results"): the card names the terms, their weights and
the SAT, and what the paper's recipe would set instead.

    python3 models/card_objective.py runs/models/hash32/config.json
"""
import json
import sys


def objective(c: dict) -> str:
    task = c["task"]
    sat = " + ".join(c["sat"])
    if task == "cluster":
        terms = f"SAT ({sat}) + λ·(H(Y|X) − μ·H(Y)), λ {c['lam']:g}, μ {c['mu']:g}"
        paper = "VAT alone, λ 0.1, μ 4, batch 250, 50 epochs, 1 head"
    else:
        terms = (f"SAT ({sat}) + λ·(H(Y|X) − μ·H(Y) + w·Σ pairwise MI of the bits), "
                 f"λ {c['lam']:g}, μ {c['mu']:g}, w {c['pairwise_mi_weight']:.3f}")
        paper = "VAT alone, λ 0.1, μ 1, w 1"
    parts = [terms]
    if c.get("heads", 1) > 1:
        parts.append(f"{c['heads']} heads on one network, the lowest-loss head kept")
    if "vat" in c["sat"]:
        parts.append(f"VAT ξ {c['xi']:g}, ε {c['eps_scale']:g} × distance to the "
                     f"{c['eps_neighbour']}th neighbour")
    if "affine" in c["sat"]:
        a = c["affine"]
        moves = [f"±{a['degrees']:g}°", f"scale ±{a['scale']:g}", f"shift ±{a['shift']:g} px"]
        if a["shear"]:
            moves.append(f"shear ±{a['shear']:g}")
        if a["thickness"]:
            moves.append(f"strokes thickened or thinned with probability {a['thickness']:g}")
        parts.append("affine SAT " + ", ".join(moves))
    if "edits" in c["sat"]:
        return "; ".join(parts) + (f" (the paper has no photo recipe; its hash recipe: {paper}; "
                                   "README, \"Near-duplicate photos\")")
    return "; ".join(parts) + f" (the paper's recipe: {paper}; README, \"Results\")"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: card_objective.py RUN/config.json")
    print(objective(json.load(open(sys.argv[1]))))
