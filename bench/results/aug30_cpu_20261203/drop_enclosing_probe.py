"""Probe: paired DSB with and without dropping every predicted instance that fully encloses another
one (a brightfield cell outlined around its nucleus). Usage: drop_enclosing_probe.py OOF_DIR [IDS_FILE]."""
import sys, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from skimage.measure import regionprops
from common.data import DSBDataset
from common.paths import SHARED_DSB_DIR
from common.predictions import load_prediction, relabel_sequential
from common.metrics import score_dataset
from common.folds import image_type
from common.stats import format_mean_se as mean_se
import pandas as pd

def drop_enclosing(labels, min_inside=1):
    areas = np.bincount(labels.ravel())
    drop = []
    for r in regionprops(labels):
        holes = r.image_filled & ~r.image
        if not holes.any():
            continue
        sl = r.slice
        inside = np.bincount(labels[sl][holes].ravel(), minlength=len(areas))
        inside[0] = 0
        full = np.flatnonzero((inside > 0) & (inside == areas[:len(inside)]))
        if len(full) >= min_inside:
            drop.append(r.label)
    if not drop:
        return labels
    keep = np.ones(len(areas), bool); keep[drop] = False; keep[0] = True
    return relabel_sequential(np.where(keep[labels], labels, 0))[0]

ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
folder = Path(sys.argv[1])
ids = sorted(p.stem for p in folder.glob("*.npz"))
if len(sys.argv) > 2:
    keep = {l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")}
    ids = [i for i in ids if i in keep]
truth = {i: ds.load_labels(i) for i in ids}
types = pd.Series({i: image_type(ds.load_image(i)) for i in ids})
old = {i: load_prediction(folder / f"{i}.npz").labels for i in ids}
new = {i: drop_enclosing(old[i]) for i in ids}
ndrop = pd.Series({i: int(old[i].max() - new[i].max()) for i in ids})
so = score_dataset(truth, old).per_image["score"].reindex(ids)
sn = score_dataset(truth, new).per_image["score"].reindex(ids)
print(f"{folder}: {len(ids)} images")
print("| images | off | drop_enclosing | diff | instances dropped |\n|---|---:|---:|---:|---:|")
for t in ["all", *sorted(types.unique())]:
    m = np.ones(len(ids), bool) if t == "all" else (types == t).to_numpy()
    print(f"| {t} ({m.sum()}) | {so[m].mean():.3f} | {sn[m].mean():.3f} | {mean_se((sn - so)[m])} | {ndrop[m].sum()} |")
