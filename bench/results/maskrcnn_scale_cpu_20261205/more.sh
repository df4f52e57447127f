#!/bin/bash
# issue 14: predict.scale_select of the Mask R-CNN in distribution (the cpu_small network of
# stratified fold 0, ../strat_families_cpu_20261205/train.sh, on the 44 images of
# ../scale_select_cpu_20261205/indist.sh) and on the rest of group fold 1 at native size (the
# 83 images of ../scale_select_cpu_20261205/rest.sh).
# Usage: more.sh GROUP_WORK STRAT_WORK SELECT_RUNS OUT
set -euo pipefail
gw=$1; st=$2; sel=$3; out=$4
cd "$(dirname "$0")/../../.."
V="predict.scale_select.candidates=[1.0,0.67,0.5,0.33]"
.venv/bin/python bench/bench_magnify.py --family maskrcnn --run "$st/runs/maskrcnn-mobilenet-fold0" \
  --data /work/shared/dsb2018 --ids "$sel/indist/ids.txt" --factors 1 --variant off: --variant "select:$V" --out "$out/indist"
.venv/bin/python bench/bench_magnify.py --family maskrcnn --run "$gw/runs/maskrcnn-mobilenet-fold1" \
  --data /work/shared/dsb2018 --ids "$sel/rest/fold1.txt" --factors 1 --variant off: --variant "select:$V" --out "$out/rest_fold1"
