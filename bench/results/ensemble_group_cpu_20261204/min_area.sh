#!/bin/bash
# issue 14: measure cfbf8da (a split_by_shape piece under post.min_area stays on its neighbour
# instead of being cut off and deleted) on the U-Net group-OOF maps of run_pair.sh: the same
# maps post-processed with the fixed thresholds of ../declump_cpu_20261204/ (split_solidity 0.9,
# split_depth 0.2) by the code before cfbf8da and by the code of the run (DIR/src).
# Usage: min_area.sh DIR OUT
set -euo pipefail
dir=$1; out=$2
W="$dir/work/split-group"
old="$dir/old"
if [ ! -d "$old/src" ]; then
  mkdir -p "$old/src"; git -C /work/main archive cfbf8da^ | tar -x -C "$old/src"
  ln -s /work/main/.venv "$old/src/.venv"
fi
S="mask_threshold=0.6 seed_threshold=0.7 centre_threshold=0.65 min_area=30 min_seed_area=8 split_solidity=0.9 split_depth=0.2"
cfg=$(ls -d "$W"/runs/unet-fold*/config.yaml | head -1)
for side in old new; do
  src="$dir/src"; [ $side = old ] && src="$old/src"
  (cd "$src" && .venv/bin/python bench/bench_tune_transfer.py --pred-dir "$W/predictions/unet/oof" \
     --folds-csv "$W/folds_group.csv" --config "$cfg" --data /work/shared/dsb2018 --mode fixed \
     --out-pred "$dir/ma_$side/split-group/predictions/unet/oof" --set $S)
done
cd "$dir/src" && .venv/bin/python bench/bench_paired.py \
  before=$dir/ma_old/split-group/predictions/unet/oof after=$dir/ma_new/split-group/predictions/unet/oof \
  --data /work/shared/dsb2018 --out "$out"
# the U-Net post-processed as tuning post-processes it (the "after" maps), beside the Mask R-CNN:
# a second group work folder for ensembles.sh (its W argument)
t="$dir/work_t/split-group"; mkdir -p "$t/predictions"
ln -sfn "$dir/ma_new/split-group/predictions/unet" "$t/predictions/unet"
ln -sfn "$W/predictions/maskrcnn-mobilenet" "$t/predictions/maskrcnn-mobilenet"
cp "$W/folds_group.csv" "$t/"
