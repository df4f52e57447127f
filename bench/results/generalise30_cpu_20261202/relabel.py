"""Folds 1, 4 and 0 of /tmp/g30 were predicted with post.tune=true (the queue meant to pass
post.tune=false never ran): a run's thresholds.json was tuned on its own held-out images.
For each variant root and fold given: keep the tuned labels aside (cpu30 only, the leaky
upper bound), rename thresholds.json and relabel the fold's first 40 held-out images with
the config's default post-processing, as fold 3 (relabel_fold3.py).
Usage: relabel.py ROOT FOLD [ROOT FOLD ...]"""
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, "/tmp/g30/src")
from common.config import load_config
from common.folds import load_folds, split_ids
from solutions.unet.config import UNetConfig, default_params
from solutions.unet.predict import relabel

args = sys.argv[1:]
for root, fold in zip(args[::2], args[1::2]):
    ws = Path(root) / "split-group"
    run = ws / "runs" / f"unet-fold{fold}"
    oof = ws / "predictions" / "unet" / "oof"
    marker = oof / f"_summary_fold{fold}.json"
    ids = split_ids(load_folds(ws / "folds_group.csv"), int(fold))[1][:40]
    assert marker.is_file() and all((oof / f"{i}.npz").is_file() for i in ids), (root, fold)
    if not (run / "thresholds.json").is_file():
        print(f"{root} fold {fold}: no thresholds.json, already default"); continue
    if "g30" in str(Path(root).resolve()):
        side = Path(f"/tmp/g30/tuned_fold{fold}"); side.mkdir(exist_ok=True)
        for i in ids:
            shutil.copy2(oof / f"{i}.npz", side / f"{i}.npz")
    tuned = json.loads((run / "thresholds.json").read_text())
    (run / "thresholds.json").rename(run / "thresholds_tuned_on_heldout.json")
    params = default_params(load_config(UNetConfig, run / "config.yaml"))
    relabel(oof, ids, params)
    summary = json.loads(marker.read_text()); summary["params"] = params
    marker.write_text(json.dumps(summary, indent=1))
    print(f"{root} fold {fold}: relabelled {len(ids)} with defaults; tuned was "
          f"{ {k: v for k, v in tuned.items() if not k.startswith('_') and v != params.get(k)} } "
          f"({tuned.get('_default_score')} -> {tuned.get('_oof_score')})", flush=True)
