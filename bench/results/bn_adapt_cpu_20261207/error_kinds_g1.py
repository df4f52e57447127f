"""Error kinds (common.error_kinds) of the group-fold-1 network's held-out images, predicted without the switch
(the predict command's folder behind cmp_g1base), summed per kind. Writes error_kinds_g1.txt.

Usage (from the repository root): PYTHONPATH=. .venv/bin/python bench/results/bn_adapt_cpu_20261207/error_kinds_g1.py PRED_DIR
"""

import sys
from pathlib import Path

import pandas as pd

from common.data import DSBDataset
from common.error_kinds import ERROR_KINDS, error_kinds
from common.paths import SHARED_DSB_DIR
from common.predictions import load_prediction

HERE = Path(__file__).resolve().parent
pred_dir = Path(sys.argv[1])
groups = pd.read_csv(HERE.parent / "dim_nuclei_cpu_20261206" / "folds_group.csv").query("fold == 1")
data = DSBDataset(SHARED_DSB_DIR, "stage1_train")
rows = [{"group": g, **error_kinds(data.load_labels(i), load_prediction(pred_dir / f"{i}.npz").labels)}
        for i, g in zip(groups.image_id, groups.group)]
table = pd.DataFrame(rows).groupby("group")[list(ERROR_KINDS)].sum()
table["merged_share"] = (table.merged / table.true).round(3)
text = f"Command: PYTHONPATH=. .venv/bin/python {Path(__file__).relative_to(HERE.parents[2])} {pred_dir}\n\n{table.to_string()}\n"
(HERE / "error_kinds_g1.txt").write_text(text)
print(text)
