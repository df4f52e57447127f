"""Counts quoted in README.md, from the work folders of run_pair.sh / ensembles.sh and paired.json.

(a) The untuned U-Net against the demo vote (``default/``): instances, how many of the U-Net's
are under the vote's min_size (10 px), pixels that differ. (b) Per image type, the images where
a source beats the U-Net (``tuned/paired/paired.json``).

Usage: .venv/bin/python bench/results/ensemble_group_cpu_20261204/counts.py DIR > counts.md
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.folds import load_folds  # noqa: E402
from common.predictions import list_predictions, load_prediction  # noqa: E402
from pipeline.plots import markdown_table  # noqa: E402

work = Path(sys.argv[1]) / "work" / "split-group"
here = Path(__file__).parent
folds = load_folds(work / "folds_group.csv").set_index("image_id")
rows = []
for image_id, path in list_predictions(work / "predictions" / "unet" / "oof").items():
    unet = load_prediction(path).labels
    demo = load_prediction(work / "predictions" / "ens_demo" / "oof" / f"{image_id}.npz").labels
    areas = np.bincount(unet.ravel())[1:]
    rows.append({"fold": int(folds.loc[image_id, "fold"]), "unet": int((areas > 0).sum()),
                 "demo": len(np.unique(demo)) - 1, "unet_under_10px": int(((areas > 0) & (areas < 10)).sum()),
                 "pixels_differ": int(((unet > 0) != (demo > 0)).sum())})
table = pd.DataFrame(rows).groupby("fold").sum()
table.loc["all"] = table.sum()
print("# Counts behind README.md\n\n(a) instances, untuned U-Net against the demo vote (`default/`):\n")
print(markdown_table(table, index_name="fold"))
scores = pd.DataFrame(json.loads((here / "tuned" / "paired" / "paired.json").read_text())["per_image"]).T
scores["type"] = folds.loc[scores.index, "cluster"]
print("\n(b) images where a source beats the U-Net (`tuned/paired/paired.json`):\n")
better = pd.DataFrame({src: scores[src] > scores["unet"] for src in ("maskrcnn", "inter")}).groupby(scores["type"])
print(markdown_table(better.sum().assign(images=better.size()), index_name="type"))
