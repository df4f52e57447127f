#!/bin/bash
# issue 14: the shipped cpu_small Mask R-CNN (MobileNet, random init) of group fold 3
# (../ensemble_group_cpu_20261204/) on 4 held-out brightfield and 6 fluorescence images
# (ids.txt, from ../scale_select_cpu_20261205/ids_fold3.txt), native and magnified 3x, predicted
# at predict.scale 1, 0.67, 0.5, 0.33.
# Usage: run.sh GROUP_WORK OUT.json
set -euo pipefail
cd "$(dirname "$0")/../../.."
.venv/bin/python bench/results/maskrcnn_scale_cpu_20261205/explore.py "$1/runs/maskrcnn-mobilenet-fold3" \
  bench/results/maskrcnn_scale_cpu_20261205/ids.txt "$2" --factors 1 3 --scales 1 0.67 0.5 0.33
