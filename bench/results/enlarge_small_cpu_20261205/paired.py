"""Pair the enlarge_below variants with their baseline per image, per fold and factor, pooled
per factor, and per image type: images, images the variant rescaled otherwise (enlarged, for fixed and follow), mean difference ± s.e. (better /
worse). Also checks that an image a variant leaves at the baseline's scale scores exactly as the baseline.

    paired.py fixed   enl05, enl10, enl25 of fixed/foldF/ (fixed floors) against variant
                      shipped of fixed/base_fF_xX/, else of ../scale_floors_cpu_20261205/foldF/
    paired.py follow  enl10 of follow/foldF/ against follow of the same file (shipped floors)
    paired.py override        enl10o of override/foldF/ against enl10 of follow/foldF/
    paired.py override_total  enl10o of override/foldF/ against follow of follow/foldF/

Run from this folder: paired.py SET > paired_SET.md"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402

FLOORS = HERE.parent / "scale_floors_cpu_20261205"
SET = sys.argv[1]
VARIANTS = {"fixed": ["enl05", "enl10", "enl25"], "follow": ["enl10"], "override": ["enl10o"],
            "override_total": ["enl10o"]}[SET]
NEW = {"override_total": "override"}.get(SET, SET)  # the folder of the variants' rows
DATA = DSBDataset("/work/shared/dsb2018", "stage1_train")


def rows(folder: Path) -> pd.DataFrame:
    return pd.DataFrame(json.loads((folder / "magnify.json").read_text())["rows"])


def baseline(fold: int, factor: float) -> pd.DataFrame:
    if SET in ("follow", "override", "override_total"):
        r, name = rows(HERE / "follow" / f"fold{fold}"), "enl10" if SET == "override" else "follow"
    else:
        own = HERE / "fixed" / f"base_f{fold}_x{factor:g}"
        r, name = rows(own if own.is_dir() else FLOORS / f"fold{fold}"), "shipped"
    r = r[(r.variant == name) & (r.factor == factor)]
    return r.set_index("image_id")[["score", "scale"]]


def fmt(d: pd.Series) -> str:
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return f"{d.mean():+.4f} ± {se:.4f} ({(d > 0).sum()} / {(d < 0).sum()})"


pairs = []
for fold in sorted(int(p.name[4:]) for p in (HERE / NEW).glob("fold[0-9]")):
    new = rows(HERE / NEW / f"fold{fold}")
    for factor in sorted(new.factor.unique()):
        base = baseline(fold, factor)
        for v in VARIANTS:
            n = new[(new.variant == v) & (new.factor == factor)].set_index("image_id")[["score", "scale"]]
            j = base.join(n.add_suffix("_new"), how="inner").astype(float)
            pairs.append(j.assign(fold=fold, factor=factor, variant=v))
P = pd.concat(pairs)
types = {i: image_type(DATA.load_image(i)) for i in P.index.unique()}
P["type"] = P.index.map(types)
P["d"] = P.score_new - P.score
P["up"] = P.scale_new != P.scale  # the variant chose another scale (enlarged, for enl*)
kept = P[~P.up]
print(f"Check: images a variant leaves alone score as the baseline: largest |difference| "
      f"{kept.d.abs().max():.2e} over {len(kept)} image-variant pairs.\n")
print("| fold | factor | images | " + " | ".join(f"{v}: rescaled otherwise, difference" for v in VARIANTS) + " |")
print("|---|---|---:|" + "---|" * len(VARIANTS))
for (fold, factor), g in P.groupby(["fold", "factor"]):
    cells = [f"{int(g[g.variant == v].up.sum())}, {fmt(g[g.variant == v].d)}" for v in VARIANTS]
    print(f"| {fold} | x{factor:g} | {len(g) // len(VARIANTS)} | " + " | ".join(cells) + " |")
for factor, g in P.groupby("factor"):
    cells = [f"{int(g[g.variant == v].up.sum())}, {fmt(g[g.variant == v].d)}" for v in VARIANTS]
    print(f"| pooled | x{factor:g} | {len(g) // len(VARIANTS)} | " + " | ".join(cells) + " |")
print("\nMean DSB over the folds' images (the baseline, then each variant):\n")
print("| factor | folds | images | baseline | " + " | ".join(VARIANTS) + " |")
print("|---|---|---:|---:|" + "---:|" * len(VARIANTS))
for factor, g in P.groupby("factor"):
    base = g[g.variant == VARIANTS[0]]
    cells = [f"{g[g.variant == v].score_new.mean():.4f}" for v in VARIANTS]
    print(f"| x{factor:g} | {', '.join(map(str, sorted(g.fold.unique())))} | {len(base)} | "
          f"{base.score.mean():.4f} | " + " | ".join(cells) + " |")
print("\nPer image type, pooled over folds:\n")
print("| factor | type | images | " + " | ".join(VARIANTS) + " |")
print("|---|---|---:|" + "---|" * len(VARIANTS))
for (factor, t), g in P.groupby(["factor", "type"]):
    cells = [f"{int(g[g.variant == v].up.sum())}, {fmt(g[g.variant == v].d)}" for v in VARIANTS]
    print(f"| x{factor:g} | {t} | {len(g) // len(VARIANTS)} | " + " | ".join(cells) + " |")
