#!/usr/bin/env bash
# Stratified fold F retrained with data.dim_nuclei=0.5 (cpu30, 1,800 s) from a `git archive` of
# 83de3f2 (/tmp/ab/snap, .venv symlinked), then its held-out images predicted as shipped at native
# size. IDS: the held-out ids of ../gap_cpu_20261206/stratF/magnify.json (its rows' image_id).
# Usage: train_strat.sh F [F ...]
set -euo pipefail
cd /tmp/ab/snap
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
for fold in "$@"; do
  W=/tmp/ab/sdim
  .venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $fold \
    --data /work/shared/dsb2018 --work $W --run-name unet-fold$fold --verbose 2 \
    --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false data.dim_nuclei=0.5
  .venv/bin/python - "$W" "$fold" <<'PY'
import sys, pandas as pd
w, f = sys.argv[1], int(sys.argv[2])
held = set(pd.read_csv(f"{w}/folds.csv").query("fold == @f").image_id)
ids = set(open(f"/tmp/ab/ids_strat{f}.txt").read().split())
assert held == ids, f"fold {f}: the split differs from ../gap_cpu_20261206/strat{f}"
PY
  .venv/bin/python bench/bench_magnify.py --family unet --run $W/runs/unet-fold$fold \
    --data /work/shared/dsb2018 --ids /tmp/ab/ids_strat$fold.txt \
    --factors 1 --variant "enl10o:$B" --out /tmp/ab/sdim_s$fold
done
