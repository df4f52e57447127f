#!/usr/bin/env bash
# The shipped probe (predict.scale_select.probe=[0.5,0.33]) through the real predict path,
# against every candidate, on stratified fold 0's held-out images (bench/bench_magnify.py).
#   bash maskrcnn.sh STRAT_WORK [DATA]     (STRAT_WORK holds runs/maskrcnn-mobilenet-fold0; run.sh wrote runs/strat0.txt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
strat=$1 data=${2:-/work/shared/dsb2018}
sel="predict.scale_select.candidates=[1.0,0.67,0.5,0.33]"
"$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --family maskrcnn --run "$strat/runs/maskrcnn-mobilenet-fold0" \
  --data "$data" --ids "$here/runs/strat0.txt" --factors 1 --variant "all:$sel,predict.scale_select.probe=[]" \
  --variant "probe:$sel,predict.scale_select.probe=[0.5,0.33]" --out "$here/runs/maskrcnn_strat0"
