#!/bin/bash
# Paired per image: the reference networks (reference.sh) against the scale-augmented ones
# (train.sh), each predicted as cpu30 ships (multiscale) and with scale normalisation off.
# Usage: compare.sh SA_WORK REF_ROOT OUT
set -euo pipefail
sa=$1; ref=$2; out=$3
cd "$(dirname "$0")/../../.."
for spec in group:4 stratified:0; do
  split=${spec%:*}; f=${spec#*:}
  a="$ref"; b="$sa"; [ $split = group ] && a="$ref/split-group" && b="$sa/split-group"
  .venv/bin/python bench/bench_paired.py "plain=$a/predictions/unet/oof_multiscale" \
    "plain_off=$a/predictions/unet/oof_off" "scale_aug=$b/predictions/unet/oof_multiscale" \
    "scale_aug_off=$b/predictions/unet/oof_off" --data /work/shared/dsb2018 --out "$out/${split}$f"
done
