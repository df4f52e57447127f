"""Per group fold: images, DSB without and with the selection, and prediction seconds per image.

    .venv/bin/python bench/results/maskrcnn_group5_cpu_20261205/folds.py WORK

Reads ``runs/selection/paired.json`` (run.sh's per-image scores), ``WORK/split-group/folds_group.csv``
and the prediction folders' ``_summary_fold<K>.json`` (``common.predictions``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from common.stats import format_mean_se  # noqa: E402


def main(work: str) -> None:
    group = Path(work) / "split-group"
    folds = pd.read_csv(group / "folds_group.csv").set_index("image_id")["fold"]
    rows = json.loads((HERE / "runs/selection/paired.json").read_text())["per_image"]
    off = pd.Series({i: r["off"] for i, r in rows.items()})
    sel = pd.Series({i: r["selection"] for i, r in rows.items()})
    for k in range(5):
        ids = folds.index[folds == k]
        secs = {name: json.loads((group / f"predictions/{name}/oof/_summary_fold{k}.json").read_text())
                for name in ("maskrcnn-noselect", "maskrcnn-mobilenet")}
        per = {name: 1.0 / s["images_per_s"] for name, s in secs.items()}
        moved = secs["maskrcnn-mobilenet"]["scale_select"]["n_rescaled"]
        print(f"group fold {k}: {len(ids)} images; off {off[ids].mean():.3f}, selection {sel[ids].mean():.3f} "
              f"({format_mean_se((sel[ids] - off[ids]).to_numpy())}); s/image {per['maskrcnn-noselect']:.2f} "
              f"→ {per['maskrcnn-mobilenet']:.2f}; rescaled {moved}")
    print(f"all: {len(off)} images; off {off.mean():.3f}, selection {sel.mean():.3f} "
          f"({format_mean_se((sel - off).to_numpy())})")


if __name__ == "__main__":
    main(sys.argv[1])
