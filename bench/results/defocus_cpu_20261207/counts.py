"""Instances predicted per true nucleus, and the scales chosen, per network and view (held-out fluorescence).

    python bench/results/defocus_cpu_20261207/counts.py

Reads this record's g3/probe.json and the stored network's ../shift_cpu_20261207/probe_g3.json.
"""
import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
FILES = {"stored (ai)": HERE.parent / "shift_cpu_20261207" / "probe_g3.json", "defocus": HERE / "g3" / "probe.json"}

for view in ("as-is", "blur-1.5", "noise-6"):
    for name, path in FILES.items():
        rows = pd.DataFrame(json.loads(path.read_text())["rows"])
        sub = rows[(rows.view == view) & (rows.type == "fluorescence")]
        print(f"{view:9s} {name:12s} images {len(sub)}  DSB {sub.score.mean():.3f}  "
              f"predicted per true nucleus {sub.n_pred.sum() / sub.n_true.sum():.2f}  "
              f"not at scale 1: {int((sub.scale != 1.0).sum())}")
