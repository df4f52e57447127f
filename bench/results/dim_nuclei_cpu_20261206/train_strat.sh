#!/usr/bin/env bash
# Recorded as it ran: /tmp/x7/snap2 was `git archive 8654ab0` with the uncommitted data.dim_nuclei
# change (committed as 4badeb7); /tmp/x7/ids_gF.txt holds group fold F's image ids
# (../contrast_probe_cpu_20261206/probe.sh).
# stratified fold F retrained with data.dim_nuclei=P (cpu30, 1,800 s), then its held-out images predicted as shipped
set -euo pipefail
fold=$1; p=$2; W=/tmp/x7/sdim$p
cd /tmp/x7/snap2
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $fold \
  --data /work/shared/dsb2018 --work $W --run-name unet-fold$fold --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false data.dim_nuclei=$p
cmp $W/folds.csv /tmp/st5/work/folds.csv
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
.venv/bin/python bench/bench_magnify.py --family unet --run $W/runs/unet-fold$fold \
  --data /work/shared/dsb2018 --ids /work/main/bench/results/gap_cpu_20261206/runs/ids_strat$fold.txt \
  --factors 1 0.5 --variant "enl10o:$B" --out /tmp/x7/sdim${p}_s$fold
