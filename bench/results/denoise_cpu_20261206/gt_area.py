"""Ground-truth median nucleus area of each image whose noise (noise.csv) is over 2: the areas the
README quotes for the grainy images (gt_area.csv); run from the repository root. Recorded as it ran
(then inline, from /work/main)."""
import sys

import pandas as pd

sys.path.insert(0, '.')
from common.data import load_split  # noqa: E402
from common.scale import estimate_nucleus_size  # noqa: E402

ds = load_split('/work/shared/dsb2018', 'stage1_train')
d = pd.read_csv('bench/results/denoise_cpu_20261206/noise.csv', dtype={'image_id': str})
d = d[d.noise > 2.0].copy()
d['area'] = [estimate_nucleus_size(ds.load_labels(i), min_area=1) for i in d.image_id]
print(d.groupby('group').area.describe(percentiles=[.1, .5, .9]).round(0).to_string())
d.to_csv('bench/results/denoise_cpu_20261206/gt_area.csv', index=False)
