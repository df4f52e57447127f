#!/usr/bin/env bash
# The first run.sh predicted "maskrcnn-noselect" of group folds 0 and 2 with the selection on:
# those two runs were trained with today's cpu_small.yaml, whose predict.scale_select their
# stored config keeps. This redoes them with the off switch (as run.sh now does) and the reports.
#   bash fixup.sh WORK [DATA]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
work=$1 data=${2:-/work/shared/dsb2018}
cd "$repo"
noselect=$work/split-group/predictions/maskrcnn-noselect/oof
for f in 0 2; do
  ids=$(awk -F, -v f=$f 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next} $c["fold"] == f {print $c["image_id"]}' \
        "$work/split-group/folds_group.csv")
  for i in $ids; do rm -f "$noselect/$i.npz"; done
  rm -f "$noselect/_summary_fold$f.json"
  .venv/bin/python -m solutions.maskrcnn.predict --run "$work/split-group/runs/maskrcnn-mobilenet-fold$f" \
    --split oof --work "$work" --data "$data" --split-by group --solution maskrcnn-noselect \
    --set "predict.scale_select.candidates=[]"
done
rm -rf "$here/runs/selection"
.venv/bin/python bench/bench_paired.py "off=$noselect" \
  "selection=$work/split-group/predictions/maskrcnn-mobilenet/oof" --data "$data" --out "$here/runs/selection"
.venv/bin/python "$here/folds.py" "$work" > "$here/folds.txt"
