import numpy as np, pandas as pd
from common.data import load_split
from common.scale import instance_areas
ds = load_split('/work/shared/dsb2018', 'stage1_train')
rows = []
for i in ds.ids:
    lab = ds.load_labels(i)
    a = instance_areas(lab)
    rows.append(dict(image_id=i, med=float(np.median(a)) if a.size else np.nan, h=lab.shape[0], w=lab.shape[1]))
pd.DataFrame(rows).to_csv('/tmp/wte/true_areas.csv', index=False)
