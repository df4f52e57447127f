#!/usr/bin/env bash
# Follow-up of run.sh: is the loss at 0.5x the fixed floors (post.min_area 30 px,
# post.min_seed_area 8 px, in the pixels of the image as given, so a nucleus of a quarter the
# area falls under them) or the lost resolution? The same run and images with both floors
# divided by 4 (the area ratio at 0.5x), with the shipped selection and with the size rule.
# Usage: floors.sh RUNS FOLD   (after run.sh, which wrote runs/ids_fold<FOLD>.txt)
set -euo pipefail
runs=$1; fold=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$here/runs/ids_fold$fold.txt" --factors 0.5 1 \
  --variant shipped: \
  --variant "floors4:post.min_area=8,post.min_seed_area=2" \
  --variant "sizerule_floors4:$S.estimate=instances,$S.max_scale=2.0,post.min_area=8,post.min_seed_area=2" \
  --out "$here/fold${fold}_floors"
