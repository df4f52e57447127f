"""Old against new untuned U-Net thresholds on the saved maps of one group work folder.

Usage: defaults.py WORK   (WORK/split-group holds folds_group.csv and predictions/unet/oof with
prob maps). Prints the per-group means; writes scores.csv beside this file.
"""
import sys
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from common.data import DSBDataset
from common.instances import probs_to_instances
from common.metrics import image_ap
from common.predictions import load_prediction
W = Path(sys.argv[1]) / "split-group"
folds = pd.read_csv(W / "folds_group.csv").set_index("image_id")
ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
new = {"mask_threshold": 0.6, "seed_threshold": 0.7, "centre_threshold": 0.65, "min_area": 30,
       "min_seed_area": 8, "min_area_rel": 0.0, "merge_border": 0.0, "split_solidity": 0.9, "split_depth": 0.2}
old = {**new, "mask_threshold": 0.5, "seed_threshold": 0.5, "centre_threshold": 0.0, "min_area": 5, "min_seed_area": 3, "split_solidity": 0.0}
rows = []
for f in sorted((W / "predictions/unet/oof").glob("*.npz")):
    p = load_prediction(f); t = ds.load_labels(f.stem)
    rows.append({"group": folds.loc[f.stem, "group"], "old": image_ap(t, probs_to_instances(p.prob, old)[0]),
                 "new": image_ap(t, probs_to_instances(p.prob, new)[0]),
                 "n_true": int(t.max()), "n_old": int(probs_to_instances(p.prob, old)[0].max()), "n_new": int(p.labels.max())})
d = pd.DataFrame(rows); d["diff"] = d.new - d.old
print(d.groupby("group").agg(n=("old", "size"), old=("old", "mean"), new=("new", "mean"), diff=("diff", "mean"),
      se=("diff", lambda x: x.std(ddof=1) / np.sqrt(len(x))), n_true=("n_true", "median"), n_old=("n_old", "median"), n_new=("n_new", "median")).round(4))
x = d["diff"]; print("all", round(d.old.mean(), 4), round(d.new.mean(), 4), round(x.mean(), 4), round(x.std(ddof=1) / np.sqrt(len(x)), 4))
d.to_csv(Path(__file__).with_name("scores.csv"), index=False)
