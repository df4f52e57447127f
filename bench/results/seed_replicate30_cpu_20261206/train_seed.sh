#!/usr/bin/env bash
# Recorded as it ran (`train_seed.sh 1 7`): group fold F's cpu30 network of today's recipe
# (data.dim_nuclei off, as shipped) trained again with another seed, alone on the machine, then its
# held-out images predicted as shipped.
# /tmp/y8/snap = `git archive 1e85e10`; /tmp/y8/seed/split-group/folds_group.csv = ../dim_nuclei_cpu_20261206/
# folds_group.csv, copied there first so the folds are the stored ones; /tmp/y8/ids_gF.txt = fold F's ids.
set -euo pipefail
fold=$1; seed=$2; W=/tmp/y8/seed
cd /tmp/y8/snap
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $fold \
  --data /work/shared/dsb2018 --work $W --split-by group --run-name unet-fold$fold-seed$seed --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false seed=$seed
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
.venv/bin/python bench/bench_magnify.py --family unet --run $W/split-group/runs/unet-fold$fold-seed$seed \
  --data /work/shared/dsb2018 --ids /tmp/y8/ids_g$fold.txt --factors 1 0.5 --variant "ship:$B" \
  --out /tmp/y8/seed${seed}_g$fold
