#!/usr/bin/env bash
# issue 14: when to enlarge. predict.scale_norm.enlarge_below=Q: the multiscale selection
# (shrink only) enlarges an image it keeps at scale 1 when the median nucleus area of that
# pass is below the Q quantile of the training images' median areas, towards the training
# median (at most 2x). Variants enlQ for Q in 0.05, 0.1, 0.25, on the cpu30 U-Nets of group
# folds 1-4 (../unet_group5_cpu_20261205/, ../scale_floors_cpu_20261205/), their held-out
# images at the given factors. These ran with the runs' own config.yaml, whose floors are
# fixed (see run_follow.sh). Their baseline, enlarge_below 0 with the same fixed floors, is
# variant shipped of ../scale_floors_cpu_20261205/foldF/ and of fixed/base_fF_xX/ here
# (bench_magnify.py ... --variant shipped:), paired per image by paired.py.
# Usage: run.sh RUNS IDS_DIR FOLD OUT FACTORS... (OUT: fixed/foldF)
set -euo pipefail
runs=$1; ids=$2; fold=$3; out=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids/ids_fold$fold.txt" --factors "$@" \
  --variant "enl05:$S.enlarge_below=0.05" \
  --variant "enl10:$S.enlarge_below=0.1" \
  --variant "enl25:$S.enlarge_below=0.25" \
  --out "$here/$out"
