#!/bin/bash
# issue 14: the shipped ensemble (ensemble/configs/demo.yaml) on the 80 group-held-out images of
# ../ensemble_group_cpu_20261204/ with the Mask R-CNN re-predicted with and without
# predict.scale_select (the runs' own configs otherwise); the U-Net's predictions are the
# multiscale ones of ../scale_select_cpu_20261205/ens.sh (ROOT/multiscale). Paired per image.
# Usage: ens.sh SELECT_ROOT GROUP_RUNS OUT   (SELECT_ROOT: that ens.sh's scratch folder;
# GROUP_RUNS: the group work folder's runs/ holding maskrcnn-mobilenet-fold1/3)
set -euo pipefail
root=$1; runs=$2; out=$3
cd "$(dirname "$0")/../../.."
ids=bench/results/scale_select_cpu_20261205/runs/ens/ids.txt
for v in before select; do
  W="$root/mr_$v/split-group"
  rm -rf "$W"; mkdir -p "$W/predictions" "$W/runs"
  cp "$root/multiscale/split-group/folds_group.csv" "$W/"
  cp -r "$root/multiscale/split-group/predictions/unet" "$W/predictions/"
  S="predict.scale_select.candidates=[]"; [ $v = select ] && S="predict.scale_select.candidates=[1.0,0.67,0.5,0.33]"
  for f in 1 3; do
    cp -r "$runs/maskrcnn-mobilenet-fold$f" "$W/runs/"
    .venv/bin/python -m solutions.maskrcnn.predict --run maskrcnn-mobilenet-fold$f --split oof --work "$root/mr_$v" \
      --split-by group --data /work/shared/dsb2018 --only "$ids" --set "$S"
  done
  .venv/bin/python -m ensemble --config ensemble/configs/demo.yaml --work "$W" --data /work/shared/dsb2018 \
    --solutions unet,maskrcnn-mobilenet --folds 1,3 --splits oof --no-submission
done
A="$root/mr_before/split-group/predictions"; B="$root/mr_select/split-group/predictions"
.venv/bin/python bench/bench_paired.py "ensemble_before=$A/ensemble/oof" "ensemble_select=$B/ensemble/oof" \
  "maskrcnn_before=$A/maskrcnn-mobilenet/oof" "maskrcnn_select=$B/maskrcnn-mobilenet/oof" "unet=$A/unet/oof" \
  --ids "$ids" --data /work/shared/dsb2018 --out "$out/paired"
