#!/usr/bin/env bash
# Held-out histology predicted enlarged (1.5x, 2x) against native size and the shipped selection.
#   bash run.sh RUN_DIR [DATA]     (RUN_DIR: a cpu30 U-Net of group fold 1, e.g. WORK/split-group/runs/unet-fold1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
run=$1 data=${2:-/work/shared/dsb2018}
force="predict.scale_norm.enabled=true,predict.scale_norm.estimate=instances,predict.scale_norm.target_area=1000000000,predict.scale_norm.tolerance=0"
"$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --run "$run" --data "$data" --ids "$here/ids.txt" \
  --factors 1 --variant native:predict.scale_norm.enabled=false \
  --variant shipped:predict.scale_norm.enabled=true,predict.scale_norm.estimate=multiscale,predict.scale_norm.renormalise=true,predict.scale_norm.tolerance=1.0,predict.scale_norm.max_scale=1.0 \
  --variant "up1.5:$force,predict.scale_norm.max_scale=1.5" --variant "up2:$force,predict.scale_norm.max_scale=2.0" \
  --out "$here/runs"
