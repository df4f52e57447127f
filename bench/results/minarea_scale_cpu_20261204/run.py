"""Min areas that follow the image's nucleus size, paired on saved group-OOF U-Net maps.

For each image with saved maps in WORK/predictions/unet/oof (WORK a group work folder whose
runs/unet-fold<K>/nucleus_size.json hold the training nucleus area), post-process with the
shipped watershed.yaml thresholds (base), then with min_area and min_seed_area scaled by
min(1, estimated median area / training area) (lin) or its square root (sqrt); the estimate
is common.scale.estimate_nucleus_size of the maps. Writes scores.csv beside this file.

Usage: run.py WORK
"""
import json, sys
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.data import DSBDataset
from common.instances import probs_to_instances
from common.metrics import image_ap
from common.predictions import load_prediction
from common.scale import estimate_nucleus_size, instance_areas

W = Path(sys.argv[1])
folds = pd.read_csv(W / "folds_group.csv").set_index("image_id")
ds = DSBDataset("/work/shared/dsb2018", "stage1_train")
base = {"mask_threshold": 0.6, "seed_threshold": 0.7, "centre_threshold": 0.65, "min_area": 30,
        "min_seed_area": 8, "min_area_rel": 0.0, "merge_border": 0.0, "split_solidity": 0.9, "split_depth": 0.2}
rows = []
for f in sorted((W / "predictions/unet/oof").glob("*.npz")):
    i = f.stem
    pred = load_prediction(f)
    fold = int(folds.loc[i, "fold"])
    target = json.loads((W / f"runs/unet-fold{fold}/nucleus_size.json").read_text())["target_area"]
    prob = pred.prob
    truth = ds.load_labels(i)
    est = estimate_nucleus_size(prob)
    r = {"image_id": i, "fold": fold, "type": folds.loc[i, "cluster"], "group": folds.loc[i, "group"],
         "true_median": float(np.median(instance_areas(truth))), "est": est, "target": target}
    lab0 = probs_to_instances(prob, base)[0]
    r["base"] = image_ap(truth, lab0)
    for name, power in (("lin", 1.0), ("sqrt", 0.5)):
        ratio = min(1.0, (est / target) ** power) if np.isfinite(est) else 1.0
        p = {**base, "min_area": max(1, round(30 * ratio)), "min_seed_area": max(1, round(8 * ratio))}
        r[name] = image_ap(truth, probs_to_instances(prob, p)[0]) if ratio < 1 else r["base"]
    rows.append(r)
    print(i[:8], r["type"], f"{r['true_median']:.0f} {est:.0f} {r['base']:.3f} {r['lin']:.3f} {r['sqrt']:.3f}", flush=True)
df = pd.DataFrame(rows)
df.to_csv(Path(__file__).with_name("scores.csv"), index=False)
for c in ("lin", "sqrt"):
    d = df[c] - df["base"]
    print(c, f"{df['base'].mean():.4f} -> {df[c].mean():.4f}  diff {d.mean():+.4f} ± {d.std(ddof=1)/np.sqrt(len(d)):.4f}",
          "changed", int((d != 0).sum()))
    print(df.assign(d=d).groupby("type")["d"].agg(["mean", "count"]))
