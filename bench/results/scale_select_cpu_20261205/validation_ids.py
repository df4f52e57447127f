"""Validation ids for the multiscale selector: held-out images of three group folds that
explore.py did not look at (seeded samples), one file per fold, written to OUT. The 16
brightfield images of fold 3 are all there are, so they are the ones explore.py saw.

Usage: validation_ids.py GROUP_WORK FOLD4_WORK OUT   (work folders holding folds_group.csv)
"""

import sys
from pathlib import Path

import pandas as pd

here = Path(__file__).parent
seen = set((here / "ids_fold3.txt").read_text().split()) | set((here / "ids_fold1.txt").read_text().split())
out = Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)


def pick(folds, fold, group_prefix, n, unseen=True):
    d = folds[(folds.fold == fold) & folds.group.str.startswith(group_prefix)]
    d = d[~d.image_id.isin(seen)] if unseen else d
    return d.sample(min(n, len(d)), random_state=1).image_id.tolist()


g = pd.read_csv(f"{sys.argv[1]}/folds_group.csv")
f4 = pd.read_csv(f"{sys.argv[2]}/folds_group.csv")
(out / "fold4.txt").write_text("\n".join(pick(f4, 4, "fluorescence-520x696", 20) + pick(f4, 4, "fluorescence-360x360", 12)) + "\n")
(out / "fold1.txt").write_text("\n".join(pick(g, 1, "histology", 16) + pick(g, 1, "fluorescence", 13)) + "\n")
(out / "fold3.txt").write_text("\n".join(pick(g, 3, "fluorescence", 16) + pick(g, 3, "brightfield", 16, unseen=False)) + "\n")
