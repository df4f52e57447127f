#!/bin/bash
# issue 14: the margin 0.03 of predict.scale_select on every brightfield image of stage1_train
# (all 16 are in group fold 3): the cpu_small Mask R-CNN of group fold 3 (trained without
# brightfield), native size and magnified 2x, off against select. The margin was chosen on 10
# images, one of them a native brightfield image that select shrank and lost.
# Usage: brightfield.sh GROUP_RUNS FOLDS_GROUP_CSV OUT   (GROUP_RUNS: holds maskrcnn-mobilenet-fold3)
set -euo pipefail
runs=$1; folds=$2; out=$3
cd "$(dirname "$0")/../../.."
mkdir -p "$out"
awk -F, 'NR>1 && $2==3 && $3=="brightfield" {print $1}' "$folds" > "$out/brightfield_ids.txt"
.venv/bin/python bench/bench_magnify.py --family maskrcnn --run "$runs/maskrcnn-mobilenet-fold3" \
  --data /work/shared/dsb2018 --ids "$out/brightfield_ids.txt" --factors 1 2 --variant off: \
  --variant "select:predict.scale_select.candidates=[1.0,0.67,0.5,0.33]" --out "$out"
