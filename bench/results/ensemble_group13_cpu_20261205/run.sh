#!/usr/bin/env bash
# issue 14: the shipped ensemble (ensemble/configs/demo.yaml) on all held-out images of group
# folds 1 and 3, with the Mask R-CNN's shipped selection (../maskrcnn_group5_cpu_20261205/).
# Networks (trained on the other group folds): the cpu30 U-Nets of ../ensemble_group_cpu_20261204/
# (1,800 s; their input gray_invert_percentile, which they keep here) and the cpu_small
# Mask R-CNNs (1,500 s), whose out-of-fold predictions with the selection are read from
# MR_PRED (../maskrcnn_group5_cpu_20261205/run.sh). The U-Net predicts with cpu30.yaml's shipped
# thresholds and multiscale selection, flip TTA. Paired per image (bench/bench_paired.py).
# Usage: run.sh UNET_RUNS MR_PRED FOLDS_GROUP_CSV ROOT [FOLDS]
#   UNET_RUNS holds unet-fold<k> of each of FOLDS (default "1 3"); ROOT: a new scratch folder.
#   Other FOLDS write runs/ids_<folds>.txt and runs/paired_<folds>/ (e.g. FOLDS=0: fold0 in README.md).
set -euo pipefail
runs=$1; mr=$2; folds=$3; root=$4; which=${5:-1 3}
here=$(cd "$(dirname "$0")" && pwd)
tag=""; [ "$which" = "1 3" ] || tag="_${which// /_}"
ids="$here/runs/ids$tag.txt"
cd "$here/../../.."
W="$root/split-group"
mkdir -p "$W/predictions/maskrcnn-mobilenet/oof" "$W/runs" "$here/runs"
cp "$folds" "$W/folds_group.csv"
awk -F, -v want=" $which " 'NR==1{for(i=1;i<=NF;i++){if($i=="image_id")c=i; if($i=="fold")f=i}; next}
  index(want, " " $f " "){print $c}' "$folds" > "$ids"
P="post.mask_threshold=0.6 post.seed_threshold=0.7 post.centre_threshold=0.65 post.min_area=30 post.min_seed_area=8 post.split_solidity=0.9"
S="predict.scale_norm.enabled=true predict.scale_norm.estimate=multiscale predict.scale_norm.renormalise=true predict.scale_norm.tolerance=1.0 predict.scale_norm.max_scale=1.0"
for f in $which; do
  cp -r "$runs/unet-fold$f" "$W/runs/"
  # shellcheck disable=SC2086
  /usr/bin/time -f "unet predict fold $f %e s" .venv/bin/python -m solutions.unet.predict --run unet-fold$f --split oof \
    --work "$root" --split-by group --data /work/shared/dsb2018 --no-tune --set $P $S
done
while read -r i; do cp "$mr/$i.npz" "$W/predictions/maskrcnn-mobilenet/oof/"; done < "$ids"
.venv/bin/python -m ensemble --config ensemble/configs/demo.yaml --work "$W" --data /work/shared/dsb2018 \
  --solutions unet,maskrcnn-mobilenet --folds "${which// /,}" --splits oof --no-submission
P2="$W/predictions"
.venv/bin/python bench/bench_paired.py "unet=$P2/unet/oof" "maskrcnn=$P2/maskrcnn-mobilenet/oof" \
  "ensemble=$P2/ensemble/oof" --ids "$ids" --data /work/shared/dsb2018 --out "$here/runs/paired$tag"
