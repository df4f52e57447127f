"""Per-image group out-of-fold scores of today's shipped cpu30 (all five group folds, 200
images) in one stored source, group_today.json:group, for bench/bench_paired.py.

Folds 0-2: ../balance30_cpu_20261203/fold<K>_today_vs_stored/paired.json (key "today").
Folds 3-4: ../aug30_cpu_20261203/magnify_group<K>/magnify.json at factor 1, shrink-only scale
norm as cpu30 ships it: the scale-norm score where it shrank the image (scale < 1), else the
plain one (exact by construction; that folder's section 6).
Run from the repository root: python bench/results/strat30_cpu_20261203/group_today.py
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
per_image = {}
for fold in (0, 1, 2):
    d = json.loads((RESULTS / f"balance30_cpu_20261203/fold{fold}_today_vs_stored/paired.json").read_text())
    for image_id, row in d["per_image"].items():
        per_image[image_id] = {"group": row["today"], "group_fold": fold}
for fold in (3, 4):
    rows = json.loads((RESULTS / f"aug30_cpu_20261203/magnify_group{fold}/magnify.json").read_text())["rows"]
    plain = {r["image_id"]: r for r in rows if r["variant"] == "off" and r["factor"] == 1.0}
    scaled = {r["image_id"]: r for r in rows if r["variant"] == "sn_t1" and r["factor"] == 1.0}
    for image_id, r in plain.items():
        s = scaled[image_id]
        per_image[image_id] = {"group": s["score"] if s["scale"] < 1.0 else r["score"], "group_fold": fold}
by_fold = {f: [r["group"] for r in per_image.values() if r["group_fold"] == f] for f in range(5)}
summary = {f: round(sum(v) / len(v), 3) for f, v in by_fold.items()}
print(len(per_image), "images; per group fold", summary,
      "; mean of folds", round(sum(summary.values()) / 5, 3))
(HERE / "group_today.json").write_text(json.dumps(
    {"command": "python bench/results/strat30_cpu_20261203/group_today.py", "per_image": per_image}, indent=1))
