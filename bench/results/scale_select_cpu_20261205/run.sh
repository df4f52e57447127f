#!/bin/bash
# issue 14: which first pass sees magnification (explore.py). Group folds of
# ../ensemble_group_cpu_20261204 (30-minute cpu30 U-Nets of group folds 3 and 1), shipped
# thresholds and the top-hat input as in ../tophat_scale_cpu_20261205/run.sh.
# Usage: run.sh WORK OUT   (WORK: the group work folder holding runs/ and folds_group.csv)
set -euo pipefail
work=$1; out=$2
cd "$(dirname "$0")/../../.."
D=bench/results/scale_select_cpu_20261205
mkdir -p "$out"
S=(--set post.mask_threshold=0.6 --set post.seed_threshold=0.7 --set post.centre_threshold=0.65
   --set post.min_area=30 --set post.min_seed_area=8 --set post.split_solidity=0.9
   --set data.normalise=gray_invert_percentile_tophat)
.venv/bin/python $D/explore.py "$work/runs/unet-fold3" $D/ids_fold3.txt "$out/fold3.json" \
  --factors 1 2 3 --scales 1 0.67 0.5 0.33 "${S[@]}"
.venv/bin/python $D/explore.py "$work/runs/unet-fold1" $D/ids_fold1.txt "$out/fold1.json" \
  --factors 1 2 --scales 1 0.67 0.5 "${S[@]}"
