#!/usr/bin/env bash
# Out-of-fold predictions of the cpu_small Mask R-CNNs with the shipped selection (probes 0.5
# and 0.33, measured on boxes), every group fold and stratified folds 0 and 1, then the report;
# the group folds also without the selection (predictions folder maskrcnn-noselect).
#   bash run.sh WORK [DATA]
# WORK/runs/maskrcnn-mobilenet-fold{0,1} (stratified) and WORK/split-group/runs/
# maskrcnn-mobilenet-fold{0..4} (group), each trained 1,500 s with
#   python -m solutions.maskrcnn.train --config solutions/maskrcnn/configs/cpu_small.yaml --fold F \
#     --data DATA --work WORK --split-by SPLIT --set train.time_budget_s=1500
# Folds 1, 3, 4 and the stratified runs were trained before predict.scale_select was in
# cpu_small.yaml, folds 0 and 2 after: each prediction sets the selection (or its off switch).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
work=$1 data=${2:-/work/shared/dsb2018}
sel=("predict.scale_select.candidates=[1.0,0.67,0.5,0.33]" "predict.scale_select.probe=[0.5,0.33]")
cd "$repo"
for f in 0 1 2 3 4; do
  .venv/bin/python -m solutions.maskrcnn.predict --run "$work/split-group/runs/maskrcnn-mobilenet-fold$f" \
    --split oof --work "$work" --data "$data" --split-by group --set "${sel[@]}"
done
for f in 0 1; do
  .venv/bin/python -m solutions.maskrcnn.predict --run "$work/runs/maskrcnn-mobilenet-fold$f" \
    --split oof --work "$work" --data "$data" --split-by stratified --set "${sel[@]}"
done
for f in 0 1 2 3 4; do  # the same networks without the selection, for the paired comparison
  .venv/bin/python -m solutions.maskrcnn.predict --run "$work/split-group/runs/maskrcnn-mobilenet-fold$f" \
    --split oof --work "$work" --data "$data" --split-by group --solution maskrcnn-noselect \
    --set "predict.scale_select.candidates=[]"
done
.venv/bin/python bench/bench_generalise.py --work "$work" --data "$data" --solutions maskrcnn-mobilenet \
  --only-predicted --worst 0 --out "$here/runs/generalise" \
  --note "cpu_small Mask R-CNN (MobileNet, random init, 1,500 s per fold on 2 CPU cores); group: all 5 folds; stratified: folds 0 and 1 only (266 images)"
oof=predictions/maskrcnn-mobilenet/oof
.venv/bin/python bench/bench_paired.py "stratified=$work/$oof" "group=$work/split-group/$oof" \
  --data "$data" --out "$here/runs/gap"
.venv/bin/python bench/bench_paired.py "off=$work/split-group/predictions/maskrcnn-noselect/oof" \
  "selection=$work/split-group/$oof" --data "$data" --out "$here/runs/selection"
