"""Pilot (2026-12-04, before common.normalise had the mode): a white top-hat of radius R
(argv) between the inversion and the stretch of gray_invert_percentile, on every
bright-background image, coloured or not, at test time only, with the 30-minute cpu30 U-Nets of
group folds 1 (all 107 held-out histology images) and 3 (all 16 held-out brightfield images),
thresholds as tuning picks them. R 0 = the plain mode. Log: pilot_log.txt.

Command: .venv/bin/python pilot.py 0 10 15 20 (CPU, Intel Xeon, 2 cores, commit 71ec1cd),
work folder /tmp/ens/work/split-group of ../../ensemble_group_cpu_20261204/run_pair.sh."""
import sys, json, time, numpy as np, cv2
sys.path.insert(0, '/work/main')
from pathlib import Path
from common.data import DSBDataset
from common.folds import image_type, load_folds
from common.metrics import image_ap
from common.instances import probs_to_instances
import common.normalise as N
from solutions.unet.predict import load_run
from solutions.unet import inference

W = Path('/tmp/ens/work/split-group')
ds = DSBDataset('/work/shared/dsb2018', 'stage1_train')
TUNED = dict(mask_threshold=0.6, seed_threshold=0.7, centre_threshold=0.65, min_area=30,
             min_seed_area=8, split_solidity=0.9, split_depth=0.2, channels=['body', 'border', 'centre'],
             method='watershed')
orig = N.normalise_image
R = 0

def variant(image, mode='none'):
    if R == 0 or mode != 'gray_invert_percentile':
        return orig(image, mode)
    g = N.to_gray(image)
    if not N.bright_background(g):
        return orig(image, mode)
    inv = 255 - g
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * R + 1, 2 * R + 1))
    th = cv2.morphologyEx(inv, cv2.MORPH_TOPHAT, k)
    out = N.percentile_stretch(th)
    return np.repeat(out[:, :, None], 3, axis=2)

N.normalise_image = variant
want = {1: 'histology', 3: 'brightfield'}
fdf = load_folds(W / 'folds_group.csv')
folds = fdf.set_index('image_id')['fold']
ids = sorted(fdf.image_id)
res = {}
for fold, kind in want.items():
    cfg, model = load_run(W / f'runs/unet-fold{fold}')
    target = json.loads((W / f'runs/unet-fold{fold}/nucleus_size.json').read_text())
    target = target['target_area']
    sel = [i for i in ids if folds[i] == fold and image_type(ds.load_image(i)) == kind]
    for r in map(int, sys.argv[1:]):
        R = r
        t0 = time.time()
        for i in sel:
            prob = inference.predict_image(model, ds.load_image(i), cfg, target_area=float(target))
            lab = probs_to_instances(prob, TUNED)[0]
            res.setdefault(i, {})[r] = image_ap(ds.load_labels(i), lab)
            res[i]['type'] = kind
        print(fold, kind, 'R', r, len(sel), 'images', round(np.mean([res[i][r] for i in sel]), 4),
              f'{time.time() - t0:.0f}s', flush=True)
json.dump(res, open('/tmp/hmax/tophat_all.json', 'w'))
