#!/bin/bash
# issue 14: predict.scale_norm.estimate=multiscale (chosen on explore.py's 36 images) against
# the shipped cpu30 scale normalisation (first-pass instances, shrink-only), end to end with
# bench_magnify.py, on held-out images explore.py did not see (validation_ids.py; the 16
# brightfield images are the exception: all there are, also in explore.py). Networks: the
# 30-minute cpu30 U-Nets of group folds 1 and 3 (../ensemble_group_cpu_20261204/) and 4
# (../defaults_cpu_20261204/); shipped thresholds and top-hat input for all three.
# Usage: validate.sh GROUP_WORK FOLD4_WORK OUT
set -euo pipefail
gw=$1; f4=$2; out=$3
cd "$(dirname "$0")/../../.."
D=bench/results/scale_select_cpu_20261205
.venv/bin/python $D/validation_ids.py "$gw" "$f4" "$out"
P="post.mask_threshold=0.6,post.seed_threshold=0.7,post.centre_threshold=0.65,post.min_area=30,post.min_seed_area=8,post.split_solidity=0.9,data.normalise=gray_invert_percentile_tophat"
M="$P,predict.scale_norm.estimate=multiscale,predict.scale_norm.renormalise=true"
run() {  # RUN IDS OUTDIR FACTORS...
  local r=$1 ids=$2 o=$3; shift 3
  .venv/bin/python bench/bench_magnify.py --run "$r" --data /work/shared/dsb2018 --ids "$ids" \
    --factors "$@" --variant "shipped:$P" --variant "multiscale:$M" --out "$o"
}
run "$f4/runs/unet-fold4" "$out/fold4.txt" "$out/fold4" 1
run "$gw/runs/unet-fold1" "$out/fold1.txt" "$out/fold1" 1 2
run "$gw/runs/unet-fold3" "$out/fold3.txt" "$out/fold3" 1 3
