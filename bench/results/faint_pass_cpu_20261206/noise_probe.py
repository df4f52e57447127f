"""Recorded as it ran: `noise_probe.py fluorescence-512x640 13` (output in noise_probe.txt), from /work/main
with /tmp/z1/snap a git archive of 8a0c72a: group fold 2's network at fixed scales, no TTA, the input
smoothed or not."""
import sys, numpy as np, cv2, pandas as pd
sys.path.insert(0, '/tmp/z1/snap')
from common.data import load_split
from common.runs import RunDir
from common.metrics import image_ap
from common.instances import probs_to_instances, floors_at_scale
from common.normalise import normalise_image
from common.scale import rescale, resize_to
from solutions.unet.predict import load_run, load_params
# ran as the private _predict_views; public as predict_views since 2026-12-06 (same function)
from solutions.unet.inference import predict_views
run = '/tmp/z1/work/split-group/runs/unet-fold2'
ds = load_split('/work/shared/dsb2018', 'stage1_train')
cfg, model = load_run(run, [])
params = load_params(RunDir(run), cfg)
g = pd.read_csv('bench/results/dim_nuclei_cpu_20261206/folds_group.csv', dtype=str)
kind = sys.argv[1]; n = int(sys.argv[2])
ids = g[g.group == kind].image_id.tolist()[:n]
def blur(x, s): return cv2.GaussianBlur(x, (0, 0), s)
def med(x, k): return cv2.medianBlur(x, k)
variants = {'plain': lambda x: x, 'gauss1': lambda x: blur(x, 1.0), 'gauss2': lambda x: blur(x, 2.0),
            'median5': lambda x: med(x, 5)}
rows = []
for i in ids:
    img = ds.load_image(i); t = ds.load_labels(i)
    x = normalise_image(img, cfg.data.normalise)
    r = {'id': i[:8]}
    for name, fn in variants.items():
        for s in (1.0, 0.5):
            v = fn(x)
            xs = rescale(v, s) if s != 1 else v
            p = predict_views(model, xs, cfg, 'none')
            if s != 1: p = resize_to(p, x.shape[:2])
            lab = probs_to_instances(p, floors_at_scale(params, s))[0]
            r[f'{name}@{s}'] = image_ap(t, lab)
    rows.append(r); print(r, flush=True)
d = pd.DataFrame(rows).set_index('id')
print(d.mean().round(3).to_string())
