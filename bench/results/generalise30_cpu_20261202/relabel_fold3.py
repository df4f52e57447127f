"""Fold 3 of /tmp/g30 was predicted with post.tune=true (thresholds tuned on its own held-out
images): keep those labels aside as the leaky upper bound, then relabel with the config's
default post-processing, as the other folds (post.tune=false) are."""
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, "/tmp/g30/src")
from common.config import load_config
from solutions.unet.config import UNetConfig, default_params
from solutions.unet.predict import relabel

root = Path("/tmp/g30/work/split-group")
run = root / "runs" / "unet-fold3"
oof = root / "predictions" / "unet" / "oof"
marker = oof / "_summary_fold3.json"
ids = sorted(p.stem for p in oof.glob("*.npz"))
assert marker.is_file() and len(ids) == 40, (marker, len(ids))
side = Path("/tmp/g30/tuned_fold3"); side.mkdir(exist_ok=True)
for i in ids:
    shutil.copy2(oof / f"{i}.npz", side / f"{i}.npz")
shutil.copy2(marker, side / marker.name)
tuned = json.loads((run / "thresholds.json").read_text())
(run / "thresholds.json").rename(run / "thresholds_tuned_on_heldout.json")
params = default_params(load_config(UNetConfig, run / "config.yaml"))
relabel(oof, ids, params)
summary = json.loads(marker.read_text()); summary["params"] = params
marker.write_text(json.dumps(summary, indent=1))
print("tuned:", tuned); print("default:", params)
