"""Scratch: markers at the h-maxima of the centre map (split seeds that hold several peaks)."""
import sys, json, numpy as np, pandas as pd
sys.path.insert(0, '/work/main')
import common.instances as ci
from common.data import DSBDataset
from common.predictions import load_prediction
from common.metrics import image_ap
from skimage.morphology import h_maxima
from skimage.measure import label as cc_label
from skimage.segmentation import watershed
from scipy import ndimage as ndi
D = DSBDataset('/work/shared/dsb2018', 'stage1_train')
f = pd.read_csv('/tmp/ug5/on/split-group/folds_group.csv').set_index('image_id')
P = '/tmp/ug5/on/split-group/predictions/unet/oof/'
params = json.load(open(P + '_summary_fold1.json'))['params']
HS = [float(h) for h in sys.argv[2:]]
orig = ci._watershed

def make(h, sigma=0.0):
    def ws(maps, mask, p):
        body, border, centre = maps['body'], maps['border'], maps['centre']
        seeds = (body - border > float(p['seed_threshold'])) & mask
        if float(p['centre_threshold']) > 0:
            seeds &= centre > float(p['centre_threshold'])
        c = ndi.gaussian_filter(centre, sigma) if sigma else centre
        peaks = h_maxima(c.astype(np.float64), h).astype(bool) & seeds
        comp = cc_label(seeds, connectivity=1)
        has = np.zeros(comp.max() + 1, bool); has[comp[peaks]] = True
        # seeds split by a watershed of the centre map from the peaks; seeds with no peak stay whole
        pk = cc_label(peaks, connectivity=2)
        split = watershed(-c, pk, mask=seeds & has[comp])
        rest = np.where(has[comp], 0, comp)
        rest = np.where(rest > 0, rest + split.max(), 0)
        markers = ci._drop_small((split + rest).astype(np.int32), int(p['min_seed_area']))
        labels = watershed(-centre, markers, mask=mask).astype(np.int32)
        orphans = mask & (labels == 0)
        if orphans.any():
            extra = cc_label(orphans, connectivity=1).astype(np.int32)
            labels = np.where(extra > 0, extra + labels.max(initial=0), labels)
        return labels
    return ws

rows = []
ids = [i for i in f.index if f.loc[i, 'fold'] in (1, 2, 3)]
for n, i in enumerate(ids):
    pr = load_prediction(P + i + '.npz')
    t = D.load_labels(i)
    pp = ci.floors_at_scale(params, pr.floor_scale or 1.0)
    ci._watershed = orig
    lab, _ = ci.probs_to_instances(pr.prob, pp)
    r = dict(id=i, group=f.loc[i, 'group'], fold=f.loc[i, 'fold'], stored=image_ap(t, pr.labels), base=image_ap(t, lab))
    for h in HS:
        ci._watershed = make(h)
        lab, _ = ci.probs_to_instances(pr.prob, pp)
        r[f'h{h}'] = image_ap(t, lab)
    rows.append(r)
df = pd.DataFrame(rows)
df.to_csv(sys.argv[1], index=False)
print('reproduces stored:', np.abs(df.stored - df.base).max())
df['kind'] = df.group.str.split('-').str[0]
for h in HS:
    d = df[f'h{h}'] - df.base
    print(f'h={h}: all {d.mean():+.4f} ± {d.std()/len(d)**.5:.4f} ({(d>0).sum()}/{(d<0).sum()})')
    print(d.groupby([df.fold, df.kind]).agg(['count', 'mean']).round(4).to_string())
