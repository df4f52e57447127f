#!/bin/bash
# issue 14: predict.scale_select of the Mask R-CNN (margin 0.03, chosen on explore.py's 10
# images) on other held-out images: group fold 3's other 12 brightfield and 16 fluorescence
# images of ../scale_select_cpu_20261205/validate.sh (native and 3x), and group fold 1's 29
# (native and 2x); the shipped cpu_small networks of ../ensemble_group_cpu_20261204/, as trained
# (no flip TTA). Usage: validate.sh GROUP_WORK SELECT_RUNS OUT
set -euo pipefail
gw=$1; sel=$2; out=$3
cd "$(dirname "$0")/../../.."
D=bench/results/maskrcnn_scale_cpu_20261205
mkdir -p "$out"
grep -v -x -f $D/ids.txt "$sel/validate/fold3.txt" > "$out/fold3.txt"
V="predict.scale_select.candidates=[1.0,0.67,0.5,0.33]"
.venv/bin/python bench/bench_magnify.py --family maskrcnn --run "$gw/runs/maskrcnn-mobilenet-fold3" \
  --data /work/shared/dsb2018 --ids "$out/fold3.txt" --factors 1 3 --variant off: --variant "select:$V" --out "$out/fold3"
.venv/bin/python bench/bench_magnify.py --family maskrcnn --run "$gw/runs/maskrcnn-mobilenet-fold1" \
  --data /work/shared/dsb2018 --ids "$sel/validate/fold1.txt" --factors 1 2 --variant off: --variant "select:$V" --out "$out/fold1"
