#!/usr/bin/env bash
# Group fold 4 (180 images whose two kinds have large nuclei, a median per image of 1,761 and
# 631 px against training's 171): the selection shrinks most there, so it is where floors that
# follow the scale matter at native size. Its earlier networks are gone with their machine;
# this trains a cpu30 U-Net of today's recipe for it (as ../unet_group5_cpu_20261205/run.sh
# does for folds 1-3: 1,800 s, post.tune=false), then run.sh at factor 1.
# Usage: fold4.sh ROOT   (ROOT/on/split-group holds folds_group.csv and the other folds' runs)
set -euo pipefail
root=$1
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
/usr/bin/time -f "unet train fold 4 %e s" .venv/bin/python -m solutions.unet.train \
  --config solutions/unet/configs/cpu30.yaml --fold 4 --data /work/shared/dsb2018 \
  --work "$root/on" --split-by group --run-name unet-fold4 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false
awk -F, 'NR==1{for(i=1;i<=NF;i++){if($i=="image_id")c=i; if($i=="fold")k=i}; next} $k==4{print $c}' \
  "$root/on/split-group/folds_group.csv" > "$here/runs/ids_fold4.txt"
"$here/run.sh" "$root/on/split-group/runs" "$here/runs/ids_fold4.txt" 4 fold4 1
