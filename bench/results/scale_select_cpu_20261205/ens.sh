#!/bin/bash
# issue 14: the shipped ensemble (ensemble/configs/demo.yaml) on the 80 group-held-out images of
# ../ensemble_group_cpu_20261204/ (group folds 1 and 3), with the cpu30 U-Net predicting by the
# size rule (the default before 2026-12-05) or by the network's certainty (multiscale), the
# shipped thresholds and top-hat input for both; the Mask R-CNN's predictions are those of that
# record. Paired per image (bench/bench_paired.py).
# Usage: ens.sh GROUP_WORK ROOT OUT   (GROUP_WORK: that record's work_t/split-group with its
# predictions, runs in GROUP_WORK/../../work/split-group/runs; ROOT: a new scratch folder)
set -euo pipefail
gw=$1; root=$2; out=$3
cd "$(dirname "$0")/../../.."
runs=$(cd "$gw/../../work/split-group/runs" && pwd)
mkdir -p "$out"
ls "$gw/predictions/unet/oof" | grep -v '^_' | sed 's/\.npz$//' > "$out/ids.txt"
P="post.mask_threshold=0.6 post.seed_threshold=0.7 post.centre_threshold=0.65 post.min_area=30 post.min_seed_area=8 post.split_solidity=0.9 data.normalise=gray_invert_percentile_tophat"
for v in size multiscale; do
  W="$root/$v/split-group"
  mkdir -p "$W/predictions" "$W/runs"
  cp "$gw/folds_group.csv" "$W/"
  cp -r "$gw/predictions/maskrcnn-mobilenet" "$W/predictions/"
  for f in 1 3; do
    cp -r "$runs/unet-fold$f" "$W/runs/"
    if [ $v = size ]; then S="predict.scale_norm.estimate=instances predict.scale_norm.renormalise=false"
    else S="predict.scale_norm.estimate=multiscale predict.scale_norm.renormalise=true"; fi
    # shellcheck disable=SC2086
    .venv/bin/python -m solutions.unet.predict --run unet-fold$f --split oof --work "$root/$v" --split-by group \
      --data /work/shared/dsb2018 --only "$out/ids.txt" --no-tune \
      --set predict.scale_norm.enabled=true predict.scale_norm.tolerance=1.0 predict.scale_norm.max_scale=1.0 $P $S
  done
  .venv/bin/python -m ensemble --config ensemble/configs/demo.yaml --work "$W" --data /work/shared/dsb2018 \
    --solutions unet,maskrcnn-mobilenet --folds 1,3 --splits oof --no-submission
done
A="$root/size/split-group/predictions"; B="$root/multiscale/split-group/predictions"
.venv/bin/python bench/bench_paired.py "unet_size=$A/unet/oof" "unet_multiscale=$B/unet/oof" \
  "ensemble_size=$A/ensemble/oof" "ensemble_multiscale=$B/ensemble/oof" "maskrcnn=$A/maskrcnn-mobilenet/oof" \
  --ids "$out/ids.txt" --data /work/shared/dsb2018 --out "$out/paired"
