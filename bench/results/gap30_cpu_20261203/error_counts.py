# per image of one type: true and predicted counts, median true area, AP at IoU 0.5 and 0.75, mean AP
# usage: .venv/bin/python error_counts.py PRED_DIR histology
import sys, os, numpy as np
from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.data import DSBDataset
from common.paths import SHARED_DSB_DIR
from common.folds import image_type
from common.metrics import image_score, match_at
ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
P = sys.argv[1]
rows = []
for f in sorted(x for x in os.listdir(P) if x.endswith(".npz")):
    iid = f[:-4]; im = ds.load_image(iid); t = image_type(im)
    if t != sys.argv[2]: continue
    true = ds.load_labels(iid); pred = np.load(os.path.join(P, f))["labels"]
    s = image_score(true, pred)
    nt, npd = len(np.unique(true)) - 1, len(np.unique(pred)) - 1
    at = np.bincount(true.ravel())[1:]; at = at[at > 0]
    tp5 = match_at(true, pred, 0.5)
    rows.append((nt, npd, np.median(at), s[0], s[5], s.mean(), tp5))
r = np.array([x[:6] for x in rows])
print("n", len(r), "true %.0f pred %.0f median area %.0f  AP@.5 %.3f AP@.75 %.3f mean %.3f" % tuple(r.mean(0)))
for x in rows[:40]: print(x)
