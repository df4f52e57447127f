"""The ids of group fold 3's held-out brightfield images (the 16 of stage1_train), one per line.

Usage: brightfield_ids.py WORK   (the group work folder holding folds_group.csv)
"""

import sys

import pandas as pd

folds = pd.read_csv(f"{sys.argv[1]}/folds_group.csv")
print("\n".join(sorted(folds[(folds.fold == 3) & (folds.cluster == "brightfield")].image_id)))
