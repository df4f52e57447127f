"""Per network, on the images of one kind: the mean score, predicted and true instances per image,
and the scales the multiscale selection chose (from stored `bench_magnify.py` rows).

Usage (from the repository root):
  .venv/bin/python bench/results/grain_p_cpu_20261206/counts.py KIND NAME=PATH:VARIANT/xFACTOR ...
KIND is a group of bench/results/dim_nuclei_cpu_20261206/folds_group.csv (brightfield-1024x1024).
"""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench.score_sources import named_source, split_source, stored_rows  # noqa: E402

GROUPS = "bench/results/dim_nuclei_cpu_20261206/folds_group.csv"
kind, sources = sys.argv[1], sys.argv[2:]
groups = pd.read_csv(GROUPS).set_index("image_id").group
ids = groups.index[groups == kind]
if not len(ids):
    sys.exit(f"counts.py: no image of kind {kind!r} in {GROUPS}")
print(f"{kind} ({len(ids)} of this kind in folds_group.csv)\n")
print("| network | images | score | predicted instances | true instances | scales chosen |")
print("|---|---:|---:|---:|---:|---|")
for spec in sources:
    name, where = named_source(spec)
    rows = stored_rows(*split_source(where))
    rows = rows[rows.index.isin(ids)]
    if rows.empty:
        sys.exit(f"counts.py: {where} holds no image of kind {kind!r}")
    scales = ", ".join(f"{s:g}: {n}" for s, n in rows.scale.round(2).value_counts().sort_index().items())
    print(f"| {name} | {len(rows)} | {rows.score.mean():.3f} | {rows.n_pred.mean():.1f} | {rows.n_true.mean():.1f} "
          f"| {scales} |")
