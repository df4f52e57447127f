"""Paired per-image DSB of two cpu30 stratified fold-0 runs on the same held-out images.

Usage (from the repo root)::

    .venv/bin/python bench/results/speed_cpu_20261203/compare_fold0.py OLD_OOF_DIR NEW_OOF_DIR

Scores every image both folders predicted (``<id>.npz``), prints the mean of each, the
paired difference new - old with its standard error, and the same per image type.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from bench.normalise_combine import mean_se  # noqa: E402
from common.data import DSBDataset  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.metrics import score_dataset  # noqa: E402
from common.paths import SHARED_DSB_DIR  # noqa: E402
from common.predictions import load_prediction  # noqa: E402

old, new = Path(sys.argv[1]), Path(sys.argv[2])
ids = sorted({p.stem for p in old.glob("*.npz")} & {p.stem for p in new.glob("*.npz")})
ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
truth = {i: ds.load_labels(i) for i in ids}
types = {i: image_type(ds.load_image(i)) for i in ids}
s = {}
for name, folder in (("old", old), ("new", new)):
    pred = {i: load_prediction(folder / f"{i}.npz").labels for i in ids}
    s[name] = score_dataset(truth, pred).per_image["score"].reindex(ids).to_numpy()


def row(label, mask):
    d = pd.Series(s["new"][mask] - s["old"][mask])
    print(f"| {label} ({mask.sum()}) | {s['old'][mask].mean():.3f} | {s['new'][mask].mean():.3f} | {mean_se(d)} |")


print("| images | old | new | new − old |\n|---|---:|---:|---:|")
row("all", np.ones(len(ids), bool))
for t in sorted(set(types.values())):
    row(t, np.array([types[i] == t for i in ids]))
