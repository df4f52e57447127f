#!/usr/bin/env bash
# The same dump on magnified held-out images (nuclei larger than any the network saw):
# group fold 3 at 3x, group fold 1 at 2x. Run after run.sh (it writes the id lists).
#   bash run_magnified.sh GROUP_WORK [DATA]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
group=$1 data=${2:-/work/shared/dsb2018}
py="$repo/.venv/bin/python $here/candidates.py --data $data"
$py --run "$group/runs/maskrcnn-mobilenet-fold3" --ids "$here/runs/group3.txt" --magnify 3 --out "$here/runs/group3_x3.jsonl"
$py --run "$group/runs/maskrcnn-mobilenet-fold1" --ids "$here/runs/group1.txt" --magnify 2 --out "$here/runs/group1_x2.jsonl"
