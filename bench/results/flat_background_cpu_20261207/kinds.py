"""flatten − shipped per image size (the group folds' kinds), per view, over probe_g*.json.

    python kinds.py probe_g3.json probe_g1.json probe_g2.json probe_g4.json > kinds.md
"""
import json
import sys
from pathlib import Path

import cv2
import pandas as pd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from common.stats import format_mean_se  # noqa: E402

DATA = Path("/work/shared/dsb2018/stage1_train")
rows = []
for f in sys.argv[1:]:
    for r in json.loads(Path(f).read_text())["rows"]:
        rows.append({**r, "net": Path(f).stem})
t = pd.DataFrame(rows)
sizes = {}
for image_id in t.image_id.unique():
    png = next((DATA / image_id / "images").glob("*.png"))
    h, w = cv2.imread(str(png), cv2.IMREAD_UNCHANGED).shape[:2]
    sizes[image_id] = f"{h}x{w}"
t["size"] = t.image_id.map(sizes)
print("| view | size | images | shipped | flatten − shipped |\n|---|---|---:|---:|---:|")
for view in dict.fromkeys(t.view):
    for size, sub in t[t.view == view].groupby("size"):
        wide = sub.pivot(index=["net", "image_id"], columns="arm", values="score")
        d = wide["flatten"] - wide["shipped"]
        print(f"| {view} | {size} | {len(wide)} | {wide['shipped'].mean():.3f} | {format_mean_se(d)} "
              f"({int((d > 0).sum())}+/{int((d < 0).sum())}−) |")
