"""enl10o (shipped: enlarge_below 0.1, enlarge_over_shrink) against follow (no enlarging) on the
stratified networks' held-out images, per fold and factor; and the gap per stratified fold.
Run from this folder: ../../../.venv/bin/python q_transfer.py > q_transfer.md"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def fmt(d: pd.Series) -> str:
    return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f} ({(d > 0).sum()} / {(d < 0).sum()})"


print("| stratified fold | factor | images | follow | enl10o | enl10o − follow (better / worse) | enlarged |")
print("|---|---|---:|---:|---:|---:|---:|")
rows = []
for fold in (0, 1):
    r = pd.DataFrame(json.loads((HERE / f"strat{fold}" / "magnify.json").read_text())["rows"]).assign(fold=fold)
    rows.append(r)
    for factor in (1.0, 0.5):
        a = r[(r.variant == "follow") & (r.factor == factor)].set_index("image_id")
        b = r[(r.variant == "enl10o") & (r.factor == factor)].set_index("image_id").reindex(a.index)
        print(f"| {fold} | {factor:g} | {len(a)} | {a.score.mean():.4f} | {b.score.mean():.4f} | "
              f"{fmt(b.score - a.score)} | {(b.scale > 1).sum()} |")
r = pd.concat(rows)
for factor in (1.0, 0.5):
    a = r[(r.variant == "follow") & (r.factor == factor)].set_index("image_id")
    b = r[(r.variant == "enl10o") & (r.factor == factor)].set_index("image_id").reindex(a.index)
    print(f"| both | {factor:g} | {len(a)} | {a.score.mean():.4f} | {b.score.mean():.4f} | "
          f"{fmt(b.score - a.score)} | {(b.scale > 1).sum()} |")

print("\nThe gap per stratified fold (enl10o, both splits), from gap_x1/gap.json and gap_x0.5/gap.json:\n")
print("| stratified fold | factor | images | group | stratified | stratified − group |")
print("|---|---|---:|---:|---:|---:|")
ids = {f: set((HERE / "runs" / f"ids_strat{f}.txt").read_text().split()) for f in (0, 1)}
epochs = {0: 166, 1: 118}  # train_summary.json of each stratified run (the group runs: 130-136)
for x in ("x1", "x0.5"):
    g = pd.DataFrame(json.loads((HERE / f"gap_{x}" / "gap.json").read_text())["models"]["cpu30"]["per_image"]).T
    for fold in (0, 1):
        s = g.loc[sorted(ids[fold] & set(g.index))]
        print(f"| {fold} ({epochs[fold]} epochs) | {x[1:]} | {len(s)} | {s.group.mean():.4f} | {s.stratified.mean():.4f} | "
              f"{fmt(s.stratified - s.group)} |")
