"""Per image kind (group) paired differences between variants of bench_magnify outputs.
Usage: bygroup.py FOLDS_CSV BASE=json:variant OTHER=json:variant ... [--factor F]"""
import json, sys, numpy as np, pandas as pd
args = sys.argv[1:]; factor = 1.0
if '--factor' in args:
    k = args.index('--factor'); factor = float(args[k + 1]); del args[k:k + 2]
f = pd.read_csv(args[0]).set_index('image_id')
cols = {}
for spec in args[1:]:
    name, src = spec.split('=', 1); path, var = src.rsplit(':', 1)
    rows = [r for r in json.load(open(path))['rows'] if r['variant'] == var and float(r['factor']) == factor]
    cols[name] = pd.Series({r['image_id']: r['score'] for r in rows})
d = pd.DataFrame(cols).dropna(); d['group'] = f.loc[d.index, 'group']
base = list(cols)[0]
def fmt(x):
    return f"{x.mean():+.3f} ± {x.std(ddof=1) / np.sqrt(len(x)):.3f}" if len(x) > 1 else f"{x.mean():+.3f}"
print(f"| kind | images | {base} | " + " | ".join(f"{c} − {base}" for c in list(cols)[1:]) + " |")
print("|---|---:|---:|" + "---:|" * (len(cols) - 1))
for g, part in list(d.groupby('group')) + [('all', d)]:
    print(f"| {g} | {len(part)} | {part[base].mean():.3f} | " +
          " | ".join(fmt(part[c] - part[base]) for c in list(cols)[1:]) + " |")
