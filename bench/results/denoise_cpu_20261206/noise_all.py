"""The noise estimate of every stage1_train image (noise.csv, rounded to 0.001), and how many images of each
group fold lie over a few thresholds; run from the repository root. It ran with an earlier `common.denoise.denoise`
(removed before commit), which returned `round(noise_level(image), 3)` in its info; this is that call."""
import sys, numpy as np, pandas as pd
sys.path.insert(0, '.')
from common.data import load_split
from common.denoise import noise_level
ds = load_split('/work/shared/dsb2018', 'stage1_train')
g = pd.read_csv('bench/results/dim_nuclei_cpu_20261206/folds_group.csv', dtype=str)
rows = []
for _, r in g.iterrows():
    rows.append((r.image_id, r.fold, r.group, round(noise_level(ds.load_image(r.image_id)), 3)))
d = pd.DataFrame(rows, columns=['image_id', 'fold', 'group', 'noise'])
d.to_csv('bench/results/denoise_cpu_20261206/noise.csv', index=False)
for t in (2.0, 2.25, 2.5, 3.0, 3.5):
    print(t, d[d.noise > t].groupby(['fold', 'group']).size().to_dict())
