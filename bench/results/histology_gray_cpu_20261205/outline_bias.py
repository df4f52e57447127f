import sys, numpy as np, pandas as pd, cv2
sys.path.insert(0, '/work/main')
from common.data import DSBDataset
from common.predictions import load_prediction
from common.metrics import image_ap, overlap_table
from skimage.segmentation import expand_labels
from skimage.morphology import erosion, disk
D = DSBDataset('/work/shared/dsb2018', 'stage1_train')
f = pd.read_csv('/tmp/ug5/on/split-group/folds_group.csv')
group = sys.argv[1]
ids = f[f.group == group].image_id.tolist()
P = '/tmp/ug5/on/split-group/predictions/unet/oof/'
def erode_labels(lab, r):
    out = lab.copy()
    for _ in range(r):
        m = lab if _ == 0 else out
        mn = cv2.erode(out.astype(np.float32), np.ones((3,3),np.uint8))
        mx = cv2.dilate(out.astype(np.float32), np.ones((3,3),np.uint8))
        out = np.where((mn == out) & (mx == out), out, 0).astype(lab.dtype)
    return out
rows = []
for i in ids:
    try: p = load_prediction(P + i + '.npz', prob=False)
    except Exception as e: continue
    t = D.load_labels(i); lab = p.labels
    nt, n_p, ti, pi, inter, at, ap = overlap_table(t, lab)
    iou = inter / (at[ti] + ap[pi] - inter)
    m = iou > 0.5
    r = dict(id=i, s0=image_ap(t, lab), ratio=np.median(ap[pi[m]] / at[ti[m]]) if m.any() else np.nan,
             nt=nt, np_=n_p, tp50=m.sum(), med_iou=np.median(iou[m]) if m.any() else np.nan,
             at=np.median(at))
    for k in (1, 2):
        r[f'd{k}'] = image_ap(t, expand_labels(lab, k))
        r[f'e{k}'] = image_ap(t, erode_labels(lab, k))
    rows.append(r)
df = pd.DataFrame(rows)
print(group, len(df))
df[["s0","d1","d2","e1","e2"]] = df[["s0","d1","d2","e1","e2"]].astype(float)
print(df.drop(columns="id").describe().round(3).to_string())
for k in ["d1","d2","e1","e2"]:
    d = df[k]-df.s0; print(k, round(d.mean(),4), "+-", round(d.std()/len(d)**.5,4), (d>0).sum(), (d<0).sum())
