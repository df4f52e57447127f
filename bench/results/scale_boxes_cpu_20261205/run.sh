#!/usr/bin/env bash
# The Mask R-CNN's scale selection measured on boxes (the detection stage only; the mask head
# at the chosen scale only) against masks (the whole candidate pass), both with the shipped
# probes, through the real predict path (bench/bench_magnify.py).
#   bash run.sh STRAT_WORK GROUP_WORK [DATA]
# STRAT_WORK holds runs/maskrcnn-mobilenet-fold0 (stratified folds), GROUP_WORK
# runs/maskrcnn-mobilenet-fold1 (group folds); the held-out ids are the lists of
# ../scale_probe_cpu_20261205/ (runs/strat0.txt, runs/group1.txt, written by its run.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
strat=$1 group=$2 data=${3:-/work/shared/dsb2018}
ids=$repo/bench/results/scale_probe_cpu_20261205/runs
sel="predict.scale_select.candidates=[1.0,0.67,0.5,0.33],predict.scale_select.probe=[0.5,0.33]"
variants=(--variant "masks:$sel,predict.scale_select.measure=masks" --variant "boxes:$sel,predict.scale_select.measure=boxes")
"$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --family maskrcnn --run "$strat/runs/maskrcnn-mobilenet-fold0" \
  --data "$data" --ids "$ids/strat0.txt" --factors 1 "${variants[@]}" --out "$here/runs/strat0"
"$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --family maskrcnn --run "$group/runs/maskrcnn-mobilenet-fold1" \
  --data "$data" --ids "$ids/group1.txt" --factors 1 2 "${variants[@]}" --out "$here/runs/group1"
