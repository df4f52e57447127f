#!/bin/bash
# issue 14: the brightfield top-hat's fixed radius (25 px, common.normalise) against
# magnification, with and without predict.scale_norm.renormalise (normalise the shrunk image as
# loaded, so the disc is in pixels where nuclei have the training size). The 30-minute cpu30
# U-Net of group fold 3 (../ensemble_group_cpu_20261204/run_pair.sh; its training set holds no
# gray bright-background image, so the top-hat is a test-time change on it, as in
# ../tophat_cpu_20261204/), all 16 held-out brightfield images at native size and magnified 3x
# (nuclei 9x the area); scale normalisation shrink-only as cpu30 ships it; the shipped thresholds.
# Usage: run.sh WORK OUT   (WORK: the group work folder holding runs/unet-fold3 and folds_group.csv)
set -euo pipefail
work=$1; out=$2
cd "$(dirname "$0")/../../.."
ids=$(mktemp)
.venv/bin/python bench/results/tophat_cpu_20261204/brightfield_ids.py "$work" > "$ids"
P="post.mask_threshold=0.6,post.seed_threshold=0.7,post.centre_threshold=0.65,post.min_area=30,post.min_seed_area=8,post.split_solidity=0.9,data.normalise=gray_invert_percentile_tophat"
.venv/bin/python bench/bench_magnify.py --run "$work/runs/unet-fold3" --data /work/shared/dsb2018 \
  --ids "$ids" --factors 1 3 --variant "tophat:$P" \
  --variant "tophat_renormalise:$P,predict.scale_norm.renormalise=true" --out "$out"
