#!/usr/bin/env bash
# Group fold 0 (128 images of the 256x256 fluorescence kind -s2): its network of today's recipe
# no longer existed. This trains one as ../scale_floors_cpu_20261205/fold4.sh did for fold 4
# (cpu30, 1,800 s, post.tune=false; its config.yaml is today's watershed.yaml, floors following
# and enlarge_below 0.1), writes its held-out ids, then run_follow.sh at factors 0.5 and 1.
# Usage: fold0.sh ROOT   (ROOT/on/split-group holds folds_group.csv and the other folds' runs)
set -euo pipefail
root=$1
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
/usr/bin/time -f "unet train fold 0 %e s" .venv/bin/python -m solutions.unet.train \
  --config solutions/unet/configs/cpu30.yaml --fold 0 --data /work/shared/dsb2018 \
  --work "$root/on" --split-by group --run-name unet-fold0 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false
ids=$here/../scale_floors_cpu_20261205/runs
awk -F, 'NR==1{for(i=1;i<=NF;i++){if($i=="image_id")c=i; if($i=="fold")k=i}; next} $k==0{print $c}' \
  "$root/on/split-group/folds_group.csv" > "$ids/ids_fold0.txt"
"$here/run_follow.sh" "$root/on/split-group/runs" "$ids" 0 follow/fold0 0.5 1
