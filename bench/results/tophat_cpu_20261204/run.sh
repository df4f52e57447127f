#!/bin/bash
# issue 14: gray_invert_percentile_tophat (common.normalise) against gray_invert_percentile on
# held-out brightfield, at test time only, with the 30-minute cpu30 U-Net of group fold 3
# (../ensemble_group_cpu_20261204/run_pair.sh; its training set holds no gray bright-background
# image, so the new mode trains that network exactly as the old one did). All 16 brightfield
# images of group fold 3, at native size and magnified 2x (nuclei 4x the area: the radius is in
# pixels); the thresholds every tuning picks (../ensemble_group_cpu_20261204/tuned/).
# Run (unet_fold3/) when common.normalise.TOPHAT_RADIUS was still 15; today it runs at the
# shipped 25 (radius.py measured 20, 25 and 35 the same way).
# Usage: run.sh WORK OUT   (WORK: the group work folder holding runs/unet-fold3)
set -euo pipefail
work=$1; out=$2
cd "$(dirname "$0")/../../.."
ids=$(mktemp)
.venv/bin/python bench/results/tophat_cpu_20261204/brightfield_ids.py "$work" > "$ids"
P="post.mask_threshold=0.6,post.seed_threshold=0.7,post.centre_threshold=0.65,post.min_area=30,post.min_seed_area=8,post.split_solidity=0.9"
.venv/bin/python bench/bench_magnify.py --run "$work/runs/unet-fold3" --data /work/shared/dsb2018 \
  --ids "$ids" --factors 1 2 --variant "plain:$P" \
  --variant "tophat:$P,data.normalise=gray_invert_percentile_tophat" --out "$out"
