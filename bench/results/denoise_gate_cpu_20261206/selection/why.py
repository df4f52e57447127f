import sys, json, numpy as np, pandas as pd
sys.path.insert(0, '/tmp/s1/snap2')
from common.data import load_split
from common.scale import rescale, map_certainty
from common.normalise import normalise_image
from solutions.unet.predict import load_run
from solutions.unet.inference import predict_views
run = sys.argv[1]; kind = sys.argv[2]
ds = load_split('/work/shared/dsb2018', 'stage1_train')
cfg, model = load_run(run, [])
g = pd.read_csv('/work/main/bench/results/dim_nuclei_cpu_20261206/folds_group.csv', dtype=str)
ids = [l.strip() for l in open(sys.argv[3])] if len(sys.argv) > 3 else g[g.group == kind].image_id.tolist()
ids = [i for i in ids if i in set(g[g.group == kind].image_id)]
print('min_cover', cfg.predict.scale_norm.min_cover, 'renorm', cfg.predict.scale_norm.renormalise)
for i in ids:
    img = ds.load_image(i)
    out = {}
    for s in (1.0, 0.67, 0.5, 0.33):
        xs = normalise_image(rescale(img, s), cfg.data.normalise) if s != 1 else normalise_image(img, cfg.data.normalise)
        c, cov = map_certainty(predict_views(model, xs, cfg, 'none'))
        out[s] = f'{c:.3f}/{cov:.3f}'
    print(i[:8], out, flush=True)
