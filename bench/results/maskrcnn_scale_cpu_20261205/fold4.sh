#!/bin/bash
# issue 14: predict.scale_select on group fold 4 (large-nucleus fluorescence, 8.5x the training
# area): the shipped cpu_small Mask R-CNN trained 1,500 s on group fold 4 (as
# ../ensemble_group_cpu_20261204/run_pair.sh trains it), then bench_magnify --family maskrcnn on
# the 32 fold-4 images of ../scale_select_cpu_20261205/validate.sh, native size, off vs select.
# Usage: fold4.sh WORK FOLDS_GROUP_CSV SELECT_RUNS OUT
set -euo pipefail
w=$1; folds=$2; sel=$3; out=$4
cd "$(dirname "$0")/../../.."
mkdir -p "$w/split-group" "$out"
cp "$folds" "$w/split-group/folds_group.csv"
.venv/bin/python -m solutions.maskrcnn.train --config solutions/maskrcnn/configs/cpu_small.yaml --fold 4 \
  --data /work/shared/dsb2018 --work "$w" --split-by group --verbose 2 \
  --set train.time_budget_s=1500 "predict.scale_select.candidates=[]"
.venv/bin/python bench/bench_magnify.py --family maskrcnn --run "$w/split-group/runs/maskrcnn-mobilenet-fold4" \
  --data /work/shared/dsb2018 --ids "$sel/validate/fold4.txt" --factors 1 --variant off: \
  --variant "select:predict.scale_select.candidates=[1.0,0.67,0.5,0.33]" --out "$out"
