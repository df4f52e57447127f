"""Tables of explore.py (per kind, magnification and predict.scale: DSB and the instances' mean
score; and what the selection with each margin would keep). Prints Markdown.

Usage: summary.py EXPLORE.json
"""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from pipeline.plots import markdown_table  # noqa: E402

d = pd.DataFrame(json.loads(Path(sys.argv[1]).read_text()))
t = d.groupby(["type", "factor", "scale"])[["score", "mean_score"]].mean().unstack("scale")
cells = {}
for (kind, factor), row in t.iterrows():
    cells[f"{kind}, x{factor:g}"] = {f"scale {s:g}": f"{row[('score', s)]:.3f} ({row[('mean_score', s)]:.2f})"
                                     for s in sorted(d.scale.unique(), reverse=True)}
print("DSB (mean instance score) per predict.scale:\n")
print(markdown_table(pd.DataFrame(cells).T, index_name="kind, magnification"))
out = {}
for margin in (0.0, 0.02, 0.03, 0.04, 0.05):
    picked = []
    for (_, kind, factor), g in d.groupby(["image_id", "type", "factor"]):
        base = g[g.scale == 1].iloc[0]
        ok = g[g.mean_score > base.mean_score + margin]
        picked.append({"kind": f"{kind}, x{factor:g}",
                       "score": (ok.loc[ok.mean_score.idxmax()] if len(ok) else base).score})
    out[f"margin {margin:g}"] = pd.DataFrame(picked).groupby("kind").score.mean().round(3)
print("\nDSB of the scale the mean score picks (without the cover guard: explore.py kept no cover):\n")
print(markdown_table(pd.DataFrame(out), index_name="kind, magnification"))
