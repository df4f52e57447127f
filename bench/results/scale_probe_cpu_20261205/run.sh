#!/usr/bin/env bash
# Dump every candidate scale's pass for the held-out images of the stored cpu_small Mask R-CNNs.
#   bash run.sh GROUP_WORK FOLD4_WORK STRAT_WORK FOLDS_GROUP_CSV [DATA]
# GROUP_WORK holds runs/maskrcnn-mobilenet-fold{1,3} (group), FOLD4_WORK runs/maskrcnn-mobilenet-fold4
# (group), STRAT_WORK runs/maskrcnn-mobilenet-fold0 and folds.csv (stratified).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
group=$1 fold4=$2 strat=$3 groupcsv=$4 data=${5:-/work/shared/dsb2018}
mkdir -p "$here/runs"
for f in 1 3; do awk -F, -v f=$f 'NR>1 && $2==f {print $1}' "$groupcsv" > "$here/runs/group$f.txt"; done
awk -F, 'NR>1 && $2==4 {print $1}' "$groupcsv" > "$here/runs/group4.txt"
awk -F, 'NR>1 && $2==0 {print $1}' "$strat/folds.csv" > "$here/runs/strat0.txt"
py="$repo/.venv/bin/python $here/candidates.py --data $data"
$py --run "$group/runs/maskrcnn-mobilenet-fold1" --ids "$here/runs/group1.txt" --out "$here/runs/group1.jsonl"
$py --run "$group/runs/maskrcnn-mobilenet-fold3" --ids "$here/runs/group3.txt" --out "$here/runs/group3.jsonl"
$py --run "$fold4/runs/maskrcnn-mobilenet-fold4" --ids "$here/runs/group4.txt" --out "$here/runs/group4.jsonl"
$py --run "$strat/runs/maskrcnn-mobilenet-fold0" --ids "$here/runs/strat0.txt" --out "$here/runs/strat0.jsonl"
