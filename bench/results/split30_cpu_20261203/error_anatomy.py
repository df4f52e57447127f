"""Error anatomy per image type of U-Net prediction folders (common.error_kinds).

Usage: .venv/bin/python bench/results/split30_cpu_20261203/error_anatomy.py PRED_DIR [PRED_DIR ...]
"""
import glob
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.data import DSBDataset  # noqa: E402
from common.error_kinds import error_table  # noqa: E402
from common.folds import image_type  # noqa: E402
from common.paths import SHARED_DSB_DIR  # noqa: E402

warnings.simplefilter("ignore")  # overlapping-mask notices
ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
items = []
for folder in sys.argv[1:]:
    for f in sorted(glob.glob(f"{folder}/*.npz")):
        iid = Path(f).stem
        items.append((image_type(ds.load_image(iid)), ds.load_labels(iid), np.load(f)["labels"]))
print(error_table(items).to_string())
