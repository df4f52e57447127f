#!/usr/bin/env bash
# Candidates above 1 for the Mask R-CNN's scale selection: every shrinking candidate against
# the same plus 1.5 (both every candidate, no probes, measured on boxes), through the real
# predict path (bench/bench_magnify.py), on the held-out images of four cpu_small networks.
#   bash run.sh STRAT_WORK GROUP_WORK GROUP4_WORK [DATA]
# STRAT_WORK holds runs/maskrcnn-mobilenet-fold0 (stratified folds); GROUP_WORK
# runs/maskrcnn-mobilenet-fold{1,3} and GROUP4_WORK runs/maskrcnn-mobilenet-fold4 (group
# folds); the held-out ids are the lists of ../scale_probe_cpu_20261205/runs/ (its run.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
strat=$1 group=$2 group4=$3 data=${4:-/work/shared/dsb2018}
ids=$repo/bench/results/scale_probe_cpu_20261205/runs
base="predict.scale_select.probe=[],predict.scale_select.measure=boxes"
variants=(--variant "shrink:predict.scale_select.candidates=[1.0,0.67,0.5,0.33],$base"
          --variant "enlarge:predict.scale_select.candidates=[1.5,1.0,0.67,0.5,0.33],$base")
for spec in "strat0:$strat/runs/maskrcnn-mobilenet-fold0" "group1:$group/runs/maskrcnn-mobilenet-fold1" \
            "group3:$group/runs/maskrcnn-mobilenet-fold3" "group4:$group4/runs/maskrcnn-mobilenet-fold4"; do
  name=${spec%%:*} run=${spec#*:}
  "$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --family maskrcnn --run "$run" --data "$data" \
    --ids "$ids/$name.txt" --factors 1 "${variants[@]}" --out "$here/runs/$name"
done
