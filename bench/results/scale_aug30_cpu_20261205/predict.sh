#!/bin/bash
# Predict every held-out image of one fold with a run's network as cpu30.yaml ships (multiscale,
# top-hat input, the shipped thresholds, flip TTA) and with predict.scale_norm off, into
# predictions/unet/oof_multiscale and oof_off. Run from a repo root.
# Usage: predict.sh WORK SPLIT FOLD   (WORK/runs/unet-foldF or WORK/split-group/runs/unet-foldF)
set -uo pipefail
w=$1; split=$2; f=$3
p="$w"; [ "$split" = group ] && p="$w/split-group"
P="post.mask_threshold=0.6 post.seed_threshold=0.7 post.centre_threshold=0.65 post.min_area=30 post.min_seed_area=8 post.split_solidity=0.9 data.normalise=gray_invert_percentile_tophat predict.tta=flip"
for v in multiscale off; do
  S="predict.scale_norm.enabled=true predict.scale_norm.estimate=multiscale predict.scale_norm.renormalise=true predict.scale_norm.tolerance=1.0 predict.scale_norm.max_scale=1.0"
  [ $v = off ] && S="predict.scale_norm.enabled=false"
  rm -rf "$p/predictions/unet/oof"
  # shellcheck disable=SC2086
  .venv/bin/python -m solutions.unet.predict --run unet-fold$f --split oof --work "$w" --split-by $split \
    --data /work/shared/dsb2018 --no-tune --set $P $S > "$p/predict_$v.log" 2>&1 || echo "== predict $v FAILED"
  rm -rf "$p/predictions/unet/oof_$v"; mv "$p/predictions/unet/oof" "$p/predictions/unet/oof_$v"
  grep "OOF DSB" "$p/predict_$v.log"
done
