import sys
sys.path.insert(0, '/work/main')
import pandas as pd
from common.data import DSBDataset
from common.error_kinds import error_kinds
from common.predictions import load_prediction
from common.metrics import image_ap
D = DSBDataset('/work/shared/dsb2018', 'stage1_train')
ids = open('/tmp/h14/strat_hist_ids.txt').read().split()
out = {}
for name, folder in (('group', '/tmp/ug5/on/split-group/predictions/unet/oof/'), ('stratified', '/tmp/st5/work/predictions/unet/oof/')):
    rows = []
    for i in ids:
        t = D.load_labels(i); p = load_prediction(folder + i + '.npz', prob=False).labels
        k = error_kinds(t, p); k['dsb'] = image_ap(t, p); k['n_pred'] = int(p.max()); rows.append(k)
    df = pd.DataFrame(rows)
    out[name] = df.drop(columns='dsb').sum()
    out[name]['dsb'] = df.dsb.mean()
r = pd.DataFrame(out)
print(r.to_string())
tot = r.loc[[c for c in r.index if c not in ('dsb', 'n_pred', 'extra', 'false_positive', 'fp')]].sum()
print((r / tot).round(3).to_string())
