#!/usr/bin/env bash
# The Mask R-CNN's proposals kept at inference (model.proposals_inference: 1000 shipped, 500, 300),
# with cpu_small's shipped prediction (scale selection with the probes), paired on held-out images
# of stored cpu_small networks (bench/bench_magnify.py --family maskrcnn).
#   bash run.sh STRAT_WORK GROUP_WORK IDS_DIR [DATA]
# STRAT_WORK holds runs/maskrcnn-mobilenet-fold0, GROUP_WORK runs/maskrcnn-mobilenet-fold1;
# IDS_DIR holds strat0.txt and group1.txt (../scale_probe_cpu_20261205/run.sh writes them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
strat=$1 group=$2 ids=$3 data=${4:-/work/shared/dsb2018}
sel="predict.scale_select.candidates=[1.0,0.67,0.5,0.33],predict.scale_select.probe=[0.5,0.33]"
bench() {  # RUN IDS OUT
  "$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --family maskrcnn --run "$1" --data "$data" \
    --ids "$2" --factors 1 --variant "p1000:$sel" --variant "p500:$sel,model.proposals_inference=500" \
    --variant "p300:$sel,model.proposals_inference=300" --out "$3"
}
bench "$strat/runs/maskrcnn-mobilenet-fold0" "$ids/strat0.txt" "$here/runs/strat0"
bench "$group/runs/maskrcnn-mobilenet-fold1" "$ids/group1.txt" "$here/runs/group1"
