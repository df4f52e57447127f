"""Markers from the h-maxima of the U-Net's centre map (issue 14: 43 % of held-out histology
nuclei are merged with a neighbour). Each watershed marker of the shipped rule (body - border >
seed_threshold and centre > centre_threshold) that holds two or more h-maxima of the centre map
(each above peak_min) is replaced by those maxima; h = 0 is the shipped rule. On the saved maps of
the 30-minute cpu30 U-Nets of group folds 1 and 3 (../ensemble_group_cpu_20261204/run_pair.sh,
80 held-out images), thresholds as tuning picks them. Not kept in the code: it did not help.

Command: .venv/bin/python bench/results/hmaxima_cpu_20261204/hmaxima.py > .../log.txt
(CPU, Intel Xeon, 2 cores, 2026-12-04; work folder /tmp/ens/work/split-group).
"""
import sys, glob, numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3]))
from pathlib import Path
from common.data import DSBDataset
from common.folds import image_type
from common.predictions import load_prediction
from common.metrics import image_ap
from common import instances as I
from skimage.morphology import local_maxima, reconstruction
from skimage.measure import label as cc_label
from skimage.segmentation import watershed
from concurrent.futures import ProcessPoolExecutor

PRED = Path('/tmp/ens/work/split-group/predictions/unet/oof')
ds = DSBDataset('/work/shared/dsb2018', 'stage1_train')
ids = sorted(f.stem for f in PRED.glob('*.npz'))
TUNED = dict(mask_threshold=0.6, seed_threshold=0.7, centre_threshold=0.65, min_area=30,
             min_seed_area=8, split_solidity=0.9, split_depth=0.2, channels=['body','border','centre'])

def hmax_watershed(maps, mask, p):
    body, border, centre = maps['body'], maps['border'], maps['centre']
    seed_map = body - border
    seeds = (seed_map > p['seed_threshold']) & mask
    if p['centre_threshold'] > 0:
        seeds &= centre > p['centre_threshold']
    h = p['h']
    if h > 0:
        c = centre.astype(np.float64)
        dome = reconstruction(np.maximum(c - h, 0), c, method='dilation')
        peaks = local_maxima(dome, connectivity=2) & (c > p.get('peak_min', 0.3)) & mask
        pk = cc_label(peaks, connectivity=2)
        sd = I._drop_small(cc_label(seeds, connectivity=1).astype(np.int32), int(p['min_seed_area']))
        # each seed component with >=2 peaks: use peaks instead
        n_sd = sd.max()
        pk_in = pk * (sd > 0)
        # count distinct peaks per seed component
        pairs = np.unique(np.stack([sd[pk_in > 0], pk_in[pk_in > 0]]), axis=1) if (pk_in>0).any() else np.zeros((2,0),int)
        cnt = np.bincount(pairs[0], minlength=n_sd + 1) if pairs.size else np.zeros(n_sd+1, int)
        multi = cnt >= 2
        keep = (sd > 0) & ~multi[sd]
        markers = np.where(keep, sd, 0)
        add = (pk_in > 0) & multi[sd]
        markers = np.where(add, pk_in + n_sd, markers)
        if p['centre_threshold'] > 0:
            pass
    else:
        markers = I._drop_small(cc_label(seeds, connectivity=1).astype(np.int32), int(p['min_seed_area']))
    labels = watershed(-centre, markers, mask=mask).astype(np.int32)
    orph = mask & (labels == 0)
    if orph.any():
        extra = cc_label(orph, connectivity=1).astype(np.int32)
        labels = np.where(extra > 0, extra + labels.max(initial=0), labels)
    return labels

def post(prob, p):
    maps = I._maps(prob, p['channels'])
    mask = maps['body'] > p['mask_threshold']
    labels = hmax_watershed(maps, mask, p)
    if p['split_solidity'] > 0:
        labels = I.split_by_shape(labels, p['split_solidity'], p['split_depth'], p['min_area'])
    labels = I._drop_small(labels, p['min_area'])
    return labels

VARIANTS = [dict(h=0)] + [dict(h=h, peak_min=pm) for h in (0.05, 0.1, 0.2, 0.3, 0.4) for pm in (0.65,)] + [dict(h=0.2, centre_threshold=0.5, peak_min=0.5), dict(h=0, centre_threshold=0.5)]

def work(i):
    pred = load_prediction(PRED / f'{i}.npz')
    truth = ds.load_labels(i)
    out = []
    for v in VARIANTS:
        p = {**TUNED, **v}
        out.append(image_ap(truth, post(pred.prob.astype(np.float32), p)))
    return i, out

def run():
    import pandas as pd
    pd.set_option('display.width', 250)
    pd.set_option('display.max_colwidth', 80)
    with ProcessPoolExecutor(2) as ex:
        res = dict(ex.map(work, ids))
    types = {i: image_type(ds.load_image(i)) for i in ids}
    df = pd.DataFrame({k: v for k, v in res.items()}).T
    df.columns = [str(v) for v in VARIANTS]
    df['type'] = pd.Series(types)
    print(df.groupby('type').mean().T.round(4).to_string())
    print(df.drop(columns='type').mean().round(4))
    base = df.iloc[:, 0]
    for c in df.columns[1:-1]:
        d = df[c] - base
        print(c, round(d.mean(), 4), '+-', round(d.std() / np.sqrt(len(d)), 4))

if __name__ == '__main__':
    run()
