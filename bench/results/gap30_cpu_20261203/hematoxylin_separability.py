# model-free: how well does one channel separate nucleus from background pixels, per image type
import sys, numpy as np
from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from common.data import DSBDataset
from common.paths import SHARED_DSB_DIR
from common.folds import image_type
from common.normalise import normalise_image
from skimage.color import rgb2hed
from sklearn.metrics import roc_auc_score
ds = DSBDataset(SHARED_DSB_DIR, "stage1_train")
rng = np.random.default_rng(0)
res = {}
for iid in ds.ids:
    im = ds.load_image(iid)
    t = image_type(im)
    if t == "fluorescence" and rng.random() > 0.1: continue
    m = ds.load_labels(iid) > 0
    g = normalise_image(im, "gray_invert_percentile")[..., 0].astype(float)
    h = rgb2hed(im)[..., 0]
    idx = rng.choice(m.size, min(m.size, 20000), replace=False)
    y = m.ravel()[idx]
    if y.all() or not y.any(): continue
    res.setdefault(t, []).append((roc_auc_score(y, g.ravel()[idx]), roc_auc_score(y, h.ravel()[idx])))
for t, v in res.items():
    v = np.array(v); print(t, len(v), "gray_inv AUC %.3f  hematoxylin AUC %.3f  hed better in %d" % (v[:,0].mean(), v[:,1].mean(), (v[:,1] > v[:,0]).sum()))
