import json, sys, pandas as pd
def load(p): return pd.DataFrame(json.load(open(p + '/magnify.json'))['rows']).set_index('image_id')
b = load(sys.argv[1])
for o in sys.argv[2:]:
    r = load(o); j = b[['score','scale']].join(r[['score','scale']], rsuffix='_n', how='inner')
    d = j.score_n - j.score
    print(o, len(d), round(j.score.mean(),4), round(j.score_n.mean(),4), f"{d.mean():+.4f} ± {d.std()/len(d)**.5:.4f}", (d>0).sum(), (d<0).sum(), 'scale changed', (j.scale!=j.scale_n).sum())
