#!/bin/bash
# issue 14: averaging the maps of several scales (blend.py) on the validation images of
# ../scale_select_cpu_20261205/ (its validate.sh and indist.sh id lists), native size, the shipped
# cpu30 networks of group folds 4, 1, 3 and stratified fold 0, shipped thresholds and top-hat input.
# Usage: run.sh GROUP_WORK FOLD4_WORK STRAT_WORK SELECT_RUNS OUT
set -euo pipefail
gw=$1; f4=$2; st=$3; sel=$4; out=$5
cd "$(dirname "$0")/../../.."
mkdir -p "$out"
S=(--set post.mask_threshold=0.6 --set post.seed_threshold=0.7 --set post.centre_threshold=0.65
   --set post.min_area=30 --set post.min_seed_area=8 --set post.split_solidity=0.9
   --set data.normalise=gray_invert_percentile_tophat)
B=bench/results/scale_blend_cpu_20261205/blend.py
.venv/bin/python $B "$f4/runs/unet-fold4" "$sel/validate/fold4.txt" "$out/fold4.json" "${S[@]}"
.venv/bin/python $B "$gw/runs/unet-fold1" "$sel/validate/fold1.txt" "$out/fold1.json" "${S[@]}"
.venv/bin/python $B "$st/runs/unet-fold0" "$sel/indist/ids.txt" "$out/indist.json" "${S[@]}"
.venv/bin/python $B "$gw/runs/unet-fold3" "$sel/validate/fold3.txt" "$out/fold3.json" "${S[@]}"
