#!/usr/bin/env bash
# detect_measure.py on every dump of run.sh and run_magnified.sh.
#   bash detect_measure.sh GROUP_WORK FOLD4_WORK STRAT_WORK [DATA]   (as run.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
group=$1 fold4=$2 strat=$3 data=${4:-/work/shared/dsb2018}
py="$repo/.venv/bin/python $here/detect_measure.py"
$py "$group/runs/maskrcnn-mobilenet-fold1" "$here/runs/group1.jsonl" "$data"
$py "$group/runs/maskrcnn-mobilenet-fold3" "$here/runs/group3.jsonl" "$data"
$py "$fold4/runs/maskrcnn-mobilenet-fold4" "$here/runs/group4.jsonl" "$data"
$py "$strat/runs/maskrcnn-mobilenet-fold0" "$here/runs/strat0.jsonl" "$data"
$py "$group/runs/maskrcnn-mobilenet-fold1" "$here/runs/group1_x2.jsonl" "$data"
$py "$group/runs/maskrcnn-mobilenet-fold3" "$here/runs/group3_x3.jsonl" "$data"
