#!/bin/bash
# issue 14: the U-Net's untuned post-processing thresholds (watershed.yaml's post block), old
# (0.5/0.5/0/5/3, no shape split) against new (the values post.tune picks: mask 0.6, seed 0.7,
# centre 0.65, min_area 30, min_seed_area 8, split_solidity 0.9), on the saved maps of the
# 30-minute cpu30 U-Nets of group folds 1 and 3 (../ensemble_group_cpu_20261204/run_pair.sh,
# the first 40 held-out images each): fixed (what a run without OOF images gets) and tuned
# across folds from each start (what post.tune gives; 2 passes as the pipeline).
# Usage: run.sh WORK TMP   (WORK: that group work folder; TMP: a scratch folder)
set -euo pipefail
W=$1; tmp=$2
cd "$(dirname "$0")/../../.."
here=bench/results/defaults_cpu_20261204
cfg=$W/runs/unet-fold1/config.yaml
OLD="mask_threshold=0.5 seed_threshold=0.5 centre_threshold=0.0 min_area=5 min_seed_area=3 split_solidity=0.0"
NEW="mask_threshold=0.6 seed_threshold=0.7 centre_threshold=0.65 min_area=30 min_seed_area=8 split_solidity=0.9"
for mode in fixed cross; do
  for side in old new; do
    S=$OLD; [ $side = new ] && S=$NEW
    .venv/bin/python bench/bench_tune_transfer.py --pred-dir "$W/predictions/unet/oof" \
      --folds-csv "$W/folds_group.csv" --config "$cfg" --data /work/shared/dsb2018 --mode $mode \
      --passes 2 --out-pred "$tmp/${mode}_$side/split-group/predictions/unet/oof" --set $S
    cp "$tmp/${mode}_$side/split-group/predictions/unet/oof/tune_transfer.json" "$here/${mode}_$side.json"
  done
  .venv/bin/python bench/bench_paired.py old=$tmp/${mode}_old/split-group/predictions/unet/oof \
    new=$tmp/${mode}_new/split-group/predictions/unet/oof --data /work/shared/dsb2018 --out "$here/$mode"
done
