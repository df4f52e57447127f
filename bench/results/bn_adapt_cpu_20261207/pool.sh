#!/usr/bin/env bash
# Writes pool.txt: ../adapt_switch_cpu_20261207/pool.py over this record's arms, one set per arm, and the
# share of each share's measured pixels per kind (measure_crop caps a view at 1 << 20 pixels). Run from this folder.
cd "$(dirname "$0")" || exit 1
PY=../../../.venv/bin/python
POOL=../adapt_switch_cpu_20261207/pool.py
{
echo "Command: ./pool.sh"
# chosen, W = 1: groups 1 and 3 as K1 (after the fix); group 2's C1 ran after the fix too. C1 of groups 1 and 3
# ran before it (the selection pass on the previous image's statistics).
$PY $POOL "native-W1:g1=cmp_g1N1/paired.json,g3=cmp_g3N1/paired.json,g2=cmp_g2N1/paired.json" \
  "chosen-W1:g1=cmp_g1K1/paired.json,g3=cmp_g3K1/paired.json,g2=cmp_g2C1/paired.json" \
  "native-W0.5:g1=cmp_g1N5/paired.json,g3=cmp_g3N5/paired.json,g2=cmp_g2N5/paired.json" \
  "native-W0.2:g1=cmp_g1N2/paired.json,g3=cmp_g3N2/paired.json,g2=cmp_g2N2/paired.json" \
  "chosen-W1-before-the-fix:g1=cmp_g1C1/paired.json,g3=cmp_g3C1/paired.json" \
  "without-the-switch-through-predict:g1=cmp_g1base/paired.json"
$PY - <<'PY'
import pandas as pd
g = pd.read_csv("../dim_nuclei_cpu_20261206/folds_group.csv")
hw = g.group.str.extract(r"(\d+)x(\d+)").astype(int)
g["pixels"] = (hw[0] * hw[1]).clip(upper=1 << 20)  # as measured: measure_crop's cap
print("## measured pixels per kind (share of the fold's share)")
for f in (1, 3, 2):
    d = g[g.fold == f].groupby("group").pixels.agg(["count", "sum"])
    d["share"] = (d["sum"] / d["sum"].sum()).round(3)
    print(f"- group fold {f}: " + "; ".join(f"{k} {int(r['count'])} images {r.share:.1%}" for k, r in d.iterrows()))
PY
} > pool.txt 2>&1
cat pool.txt
