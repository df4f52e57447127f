#!/usr/bin/env bash
# issue 14: the gap of today's cpu30 U-Net recipe. Predicts the held-out images of stratified
# fold F with the shipped prediction (enl10o, as in ../enlarge_small_cpu_20261205/run_override.sh)
# and without enlarging (follow), native and shrunk 0.5x.
# Usage: run.sh WORK FOLD     (WORK: the stratified work folder, with folds.csv and runs/unet-foldF)
set -euo pipefail
work=$1; fold=$2
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
mkdir -p "$here/runs"
awk -F, -v f="$fold" 'NR > 1 && $2 == f {print $1}' "$work/folds.csv" > "$here/runs/ids_strat$fold.txt"
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$work/runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$here/runs/ids_strat$fold.txt" --factors 1 0.5 \
  --variant "follow:$S.floors_follow_scale=true,$S.enlarge_below=0.0,$S.enlarge_over_shrink=false" \
  --variant "enl10o:$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true" \
  --out "$here/strat$fold"
