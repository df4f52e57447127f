#!/usr/bin/env bash
# issue 14: post-processing floors in the frame of the chosen scale
# (predict.scale_norm.floors_follow_scale). The shipped floors (post.min_area 30,
# post.min_seed_area 8) are pixels of the image as given; an image the multiscale selection
# predicts at 0.5 (nuclei 4x training's) keeps pieces a quarter the relative size, and an
# image of small nuclei loses them (../small_nuclei_cpu_20261205/). With the switch the floors
# are divided by scale**2.
# The cpu30 U-Net of group fold FOLD (../unet_group5_cpu_20261205/), its held-out images at
# the given factors (bench/bench_magnify.py), variants:
#   shipped  multiscale, candidates 1, 0.67, 0.5, 0.33 (shrink only), fixed floors
#   follow   the same with floors_follow_scale
# Usage: run.sh RUNS IDS FOLD OUT FACTORS...
set -euo pipefail
runs=$1; ids=$2; fold=$3; out=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids" --factors "$@" \
  --variant shipped: \
  --variant "follow:$S.floors_follow_scale=true" \
  --out "$here/$out"
