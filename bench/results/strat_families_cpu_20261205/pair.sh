#!/bin/bash
# issue 14: merge the stratified networks of train.sh with the shipped ensemble config
# (ensemble/configs/demo.yaml: U-Net weight 2, Mask R-CNN 1, brightfield voted by the Mask R-CNN
# alone), then pair each model's stratified OOF with its group OOF on the same images
# (bench/bench_paired.py; the first source, the group side, is the reference, so a difference
# is stratified - group: the gap).
# Usage: pair.sh DIR G OUT   (DIR as for train.sh; G the group predictions of
# ../ensemble_group_cpu_20261204/ post-processed as tuning does: its work_t/split-group/predictions,
# holding unet, maskrcnn-mobilenet and ens_demo_bytype; OUT a new folder)
set -euo pipefail
dir=$1; G=$2; out=$3
W="$dir/work"; P="$W/predictions"
cd "$dir/src"
.venv/bin/python -m ensemble --config ensemble/configs/demo.yaml --work "$W" --data /work/shared/dsb2018 \
  --solutions unet,maskrcnn-mobilenet --folds 0,1 --splits oof --no-submission
mkdir -p "$out"
ls "$P/unet/oof" | grep -v '^_' | sed 's/\.npz$//' > "$out/ids.txt"
for pair in "unet unet unet" "maskrcnn maskrcnn-mobilenet maskrcnn-mobilenet" "ensemble ens_demo_bytype ensemble"; do
  read -r name g s <<<"$pair"
  .venv/bin/python bench/bench_paired.py "group=$G/$g/oof" "stratified=$P/$s/oof" \
    --ids "$out/ids.txt" --data /work/shared/dsb2018 --out "$out/$name"
done
# the three families side by side on the stratified side (the U-Net the reference)
.venv/bin/python bench/bench_paired.py "unet=$P/unet/oof" "maskrcnn=$P/maskrcnn-mobilenet/oof" \
  "ensemble=$P/ensemble/oof" --ids "$out/ids.txt" --data /work/shared/dsb2018 --out "$out/families"
