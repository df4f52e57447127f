"""Pilot (issue 14): fill the holes each predicted instance encloses alone, on saved U-Net labels.

Usage: pilot.py PRED_DIR ...   (folders of <id>.npz; image types from the group work folder's
folds_group.csv, FOLDS below). Prints the DSB per type, plain and filled, paired per image.
"""

import glob
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.data import DSBDataset  # noqa: E402
from common.metrics import image_ap  # noqa: E402
from common.predictions import load_prediction  # noqa: E402

FOLDS = "/tmp/ens/work/split-group/folds_group.csv"


def fill_own_holes(lab: np.ndarray) -> np.ndarray:
    """Each instance gets the background pixels that it alone encloses (one loop per instance)."""
    out = lab.copy()
    for k, sl in enumerate(ndi.find_objects(lab), 1):
        if sl is None:
            continue
        hole = ndi.binary_fill_holes(lab[sl] == k) & (lab[sl] == 0)
        out[sl][hole] = k
    return out


ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
kind = pd.read_csv(FOLDS).set_index("image_id").cluster
rows = []
for d in sys.argv[1:]:
    for f in sorted(glob.glob(d + "/*.npz")):
        iid = Path(f).stem
        lab = load_prediction(f).labels
        truth = ds.load_labels(iid)
        rows.append((iid, kind.get(iid, "?"), image_ap(truth, lab), image_ap(truth, fill_own_holes(lab))))
df = pd.DataFrame(rows, columns=["id", "type", "plain", "filled"])
df["d"] = df.filled - df.plain
for name, s in [("all", df), *df.groupby("type")]:
    se = s.d.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else 0.0
    print(f"{name:14s} n={len(s):3d} plain {s.plain.mean():.4f} filled {s.filled.mean():.4f} "
          f"d {s.d.mean():+.4f} ± {se:.4f} changed {(s.d != 0).sum()}")
