"""enl10o (shipped: enlarge_below 0.1, enlarge_over_shrink) against follow (no enlarging) on the
stratified networks' held-out images, per fold and factor; the same pair for the group networks
on the same images (../enlarge_small_cpu_20261205/: follow/ and override/); and the gap per
stratified fold. Run from this folder:
    ../../../.venv/bin/python q_transfer.py --folds 0 1 --gap gap_ > q_transfer.md     # session v, 266 images
    ../../../.venv/bin/python q_transfer.py > q_transfer5.md                           # all 5 folds, 664 images
"""
import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ENLARGE = HERE.parent / "enlarge_small_cpu_20261205"
parser = argparse.ArgumentParser()
parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="stratified folds (stratF/)")
parser.add_argument("--gap", default="gap5_", help="prefix of the bench_gap.py outputs (gap5_x1/, gap5_x0.5/)")
args = parser.parse_args()
FOLDS = args.folds
EPOCHS = {f: json.loads((HERE / "train_summaries" / f"strat{f}.json").read_text())["epochs"] for f in FOLDS}


def fmt(d: pd.Series) -> str:
    return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f} ({(d > 0).sum()} / {(d < 0).sum()})"


def rows(path: Path) -> pd.DataFrame:
    return pd.DataFrame(json.loads(path.read_text())["rows"])


def pair(r: pd.DataFrame, base: str, new: str, factor: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    a = r[(r.variant == base) & (r.factor == factor)].set_index("image_id")
    return a, r[(r.variant == new) & (r.factor == factor)].set_index("image_id").reindex(a.index)


strat = {f: rows(HERE / f"strat{f}" / "magnify.json") for f in FOLDS}
ids = {f: set(r.image_id) for f, r in strat.items()}
group = pd.concat([rows(ENLARGE / d / f"fold{g}" / "magnify.json") for d in ("follow", "override") for g in range(5)])
group = group[group.image_id.isin(set().union(*ids.values()))]

print("| networks | stratified fold | factor | images | follow | enl10o "
      "| enl10o − follow (better / worse) | enlarged |")
print("|---|---|---|---:|---:|---:|---:|---:|")
for name, frames in (("stratified", strat), ("group", {f: group[group.image_id.isin(ids[f])] for f in FOLDS})):
    for fold in (*FOLDS, "all"):
        r = pd.concat(frames.values()) if fold == "all" else frames[fold]
        for factor in (1.0, 0.5):
            a, b = pair(r, "follow", "enl10o", factor)
            print(f"| {name} | {fold} | {factor:g} | {len(a)} | {a.score.mean():.4f} | {b.score.mean():.4f} | "
                  f"{fmt(b.score - a.score)} | {(b.scale > 1).sum()} |")

print(f"\nThe gap per stratified fold (enl10o, both splits), from {args.gap}x1/gap.json and {args.gap}x0.5/gap.json:\n")
print("| stratified fold | factor | images | group | stratified | stratified − group |")
print("|---|---|---:|---:|---:|---:|")
for x in ("x1", "x0.5"):
    g = pd.DataFrame(json.loads((HERE / f"{args.gap}{x}" / "gap.json").read_text())["models"]["cpu30"]["per_image"]).T
    for fold in FOLDS:
        s = g.loc[sorted(ids[fold] & set(g.index))]
        print(f"| {fold} ({EPOCHS[fold]} epochs) | {x[1:]} | {len(s)} | {s.group.mean():.4f} | "
              f"{s.stratified.mean():.4f} | {fmt(s.stratified - s.group)} |")
