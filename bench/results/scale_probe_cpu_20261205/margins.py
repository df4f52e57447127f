"""The Mask R-CNN's selection margin and min_cover, re-chosen on the dumps, leave-one-set-out.

    .venv/bin/python bench/results/scale_probe_cpu_20261205/margins.py runs > margins.md

Rule: the shipped probes (0.5, 0.33, then every candidate when one wins). For each (margin,
min_cover) of a small grid: the mean DSB per dump (group folds 1, 3, 4, stratified fold 0,
group fold 1 at 2x, group fold 3 at 3x). Then, leaving each dump out in turn, the grid point
with the best mean over the other five dumps' images, scored on the one left out, against the
shipped (0.03, 0.5): a margin chosen on these images that wins only in-sample does not count.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import load  # noqa: E402

from common.scale import select_scale  # noqa: E402
from common.stats import format_mean_se  # noqa: E402
from pipeline.plots import markdown_table  # noqa: E402

SETS = ("group1", "group3", "group4", "strat0", "group1_x2", "group3_x3")
MARGINS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)
COVERS = (0.3, 0.5, 0.7)
SHIPPED = (0.03, 0.5)
ALL = (1.0, 0.67, 0.5, 0.33)


def dsb(row: dict, margin: float, cover: float) -> float:
    m = row["m"]
    chosen = select_scale({f: m[f] for f in (1.0, 0.5, 0.33)}, cover, margin)
    if chosen != 1.0:
        chosen = select_scale(m, cover, margin)
    return row["passes"][str(chosen)]["dsb"]


def main(folder: str) -> None:
    data = {name: load(Path(folder) / f"{name}.jsonl") for name in SETS}
    grid = list(itertools.product(MARGINS, COVERS))
    scores = {name: {g: np.array([dsb(r, *g) for r in rows]) for g in grid} for name, rows in data.items()}
    table = pd.DataFrame({f"{m} / {c}": {name: scores[name][(m, c)].mean() for name in SETS} for m, c in grid}).T
    print("Mean DSB per dump, rows margin / min_cover (shipped 0.03 / 0.5):\n")
    print(markdown_table(table, index_name="margin / min_cover"))
    rows = {}
    for out in SETS:
        rest = [name for name in SETS if name != out]
        pooled = {g: np.concatenate([scores[n][g] for n in rest]).mean() for g in grid}
        best = max(grid, key=lambda g: (pooled[g], g == SHIPPED))
        diff = scores[out][best] - scores[out][SHIPPED]
        rows[out] = {"chosen on the other five": f"{best[0]} / {best[1]}", "held-out DSB": scores[out][best].mean(),
                     "shipped": scores[out][SHIPPED].mean(), "chosen − shipped": format_mean_se(diff)}
    print("\nLeave one dump out (the grid point best on the other five, scored on the one left out):\n")
    print(markdown_table(pd.DataFrame(rows).T, index_name="dump left out"))


if __name__ == "__main__":
    main(sys.argv[1])
