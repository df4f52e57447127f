"""Paired table of blend.py's outputs against the shipped multiscale choice. Prints Markdown.

Usage: summary.py RUNS   (the folder holding fold4.json, fold1.json, indist.json, fold3.json)
"""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from common.stats import format_mean_se  # noqa: E402
from pipeline.plots import markdown_table  # noqa: E402

runs = Path(sys.argv[1])
SETS = {"fold4": "group fold 4", "fold1": "group fold 1", "indist": "stratified fold 0", "fold3": "group fold 3"}
COLS = ["s1", "s0.67", "s0.5", "1+0.67", "1+0.67+0.5", "all4", "1+chosen"]
parts = [pd.DataFrame(json.loads((runs / f"{k}.json").read_text())).assign(set=v)
         for k, v in SETS.items() if (runs / f"{k}.json").exists()]
d = pd.concat(parts, ignore_index=True)
table = {}
for name, sub in [*d.groupby("set", sort=False), *((f"type {t}", s) for t, s in d.groupby("type")), ("all", d)]:
    row = {"images": str(len(sub)), "chosen (shipped)": f"{sub['chosen_score'].mean():.3f}"}
    for c in COLS:
        row[c] = f"{sub[c].mean():.3f} ({format_mean_se(sub[c] - sub['chosen_score'])})"
    table[name] = row
print(markdown_table(pd.DataFrame(table).T, index_name="native size"))
