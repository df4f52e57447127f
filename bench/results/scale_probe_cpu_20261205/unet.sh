#!/usr/bin/env bash
# The U-Net's multiscale selection with the probe (predict.scale_norm.probe=[0.5,0.33]) against
# without, paired on every held-out image of stored cpu30 networks, native size, and on group
# fold 3's 28 validation images magnified 3x (bench/bench_magnify.py).
#   bash unet.sh GROUP_WORK FOLD4_WORK STRAT_WORK [DATA]
# GROUP_WORK holds runs/unet-fold{1,3} (group), FOLD4_WORK runs/unet-fold4, STRAT_WORK runs/unet-fold0
# and folds.csv; run.sh wrote the id lists to runs/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
group=$1 fold4=$2 strat=$3 data=${4:-/work/shared/dsb2018}
ms="predict.scale_norm.enabled=true,predict.scale_norm.estimate=multiscale,predict.scale_norm.renormalise=true,predict.scale_norm.tolerance=1.0,predict.scale_norm.max_scale=1.0"
bench() {  # RUN IDS OUT FACTORS...
  local run=$1 ids=$2 out=$3; shift 3
  "$repo/.venv/bin/python" "$repo/bench/bench_magnify.py" --run "$run" --data "$data" --ids "$ids" \
    --factors "$@" --variant "all:$ms" --variant "probe:$ms,predict.scale_norm.probe=[0.5,0.33]" --out "$out"
}
bench "$fold4/runs/unet-fold4" "$here/runs/group4.txt" "$here/runs/unet/group4" 1
bench "$group/runs/unet-fold1" "$here/runs/group1.txt" "$here/runs/unet/group1" 1
bench "$group/runs/unet-fold3" "$here/runs/group3.txt" "$here/runs/unet/group3" 1
bench "$strat/runs/unet-fold0" "$here/runs/strat0.txt" "$here/runs/unet/strat0" 1
bench "$group/runs/unet-fold3" "$repo/bench/results/scale_select_cpu_20261205/ids_fold3.txt" "$here/runs/unet/group3_x3" 3
