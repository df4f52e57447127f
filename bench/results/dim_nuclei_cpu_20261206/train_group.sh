#!/usr/bin/env bash
# Recorded as it ran. Group folds 1 and 2 (session x): `train_group.sh F 0.5`, with /tmp/x7/snap2 =
# `git archive 8654ab0` plus the uncommitted data.dim_nuclei change (committed as 4badeb7) and
# /tmp/x7/ids_gF.txt = group fold F's image ids (../contrast_probe_cpu_20261206/probe.sh).
# Group folds 0, 3 and 4 (session y): `train_group.sh F 0.5 /tmp/y8/snap /tmp/y8`, with /tmp/y8/snap =
# `git archive 1e85e10` (the hardened dim_nuclei) and /tmp/y8/ids_gF.txt made the same way from folds_group.csv.
# group fold F retrained with data.dim_nuclei=P (cpu30, 1,800 s), then its held-out images predicted as shipped
set -euo pipefail
fold=$1; p=$2; snap=${3:-/tmp/x7/snap2}; root=${4:-/tmp/x7}; W=$root/dim$p
cd "$snap"
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $fold \
  --data /work/shared/dsb2018 --work $W --split-by group --run-name unet-fold$fold --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false data.dim_nuclei=$p
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
.venv/bin/python bench/bench_magnify.py --family unet --run $W/split-group/runs/unet-fold$fold \
  --data /work/shared/dsb2018 --ids $root/ids_g$fold.txt --factors 1 0.5 --variant "ship:$B" --out $root/dim${p}_g$fold
