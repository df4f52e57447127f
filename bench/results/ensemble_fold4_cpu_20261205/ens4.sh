#!/bin/bash
# issue 14: the shipped ensemble (ensemble/configs/demo.yaml) on all 180 images of group fold 4
# (large-nucleus fluorescence, 520x696 and 360x360), now that the Mask R-CNN's scale_select
# lifts it there (../maskrcnn_scale_cpu_20261205/fold4.sh: 0.298 -> 0.593 on 32 of them).
# Networks: the cpu30 U-Net of ../defaults_cpu_20261204/fold4/ and the cpu_small Mask R-CNN of
# fold4.sh, both trained on the other group folds. The U-Net predicts as cpu30.yaml ships
# (multiscale, top-hat input, the shipped thresholds); the Mask R-CNN with and without
# predict.scale_select. Paired per image (bench/bench_paired.py).
# Usage: ens4.sh UNET_RUN MASKRCNN_RUN FOLDS_GROUP_CSV ROOT OUT   (ROOT: a new scratch folder)
set -euo pipefail
unet=$1; mr=$2; folds=$3; root=$4; out=$5
cd "$(dirname "$0")/../../.."
mkdir -p "$out"
awk -F, 'NR==1{for(i=1;i<=NF;i++){if($i=="image_id")c=i; if($i=="fold")f=i}; next} $f==4{print $c}' "$folds" > "$out/ids.txt"
P="post.mask_threshold=0.6 post.seed_threshold=0.7 post.centre_threshold=0.65 post.min_area=30 post.min_seed_area=8 post.split_solidity=0.9 data.normalise=gray_invert_percentile_tophat"
S="predict.scale_norm.enabled=true predict.scale_norm.estimate=multiscale predict.scale_norm.renormalise=true predict.scale_norm.tolerance=1.0 predict.scale_norm.max_scale=1.0"
for v in before select; do
  W="$root/$v/split-group"
  mkdir -p "$W/predictions" "$W/runs"
  cp "$folds" "$W/folds_group.csv"
  cp -r "$unet" "$W/runs/unet-fold4"; cp -r "$mr" "$W/runs/maskrcnn-mobilenet-fold4"
  if [ $v = before ]; then
    # shellcheck disable=SC2086
    /usr/bin/time -f "unet predict %e s" .venv/bin/python -m solutions.unet.predict --run unet-fold4 --split oof \
      --work "$root/$v" --split-by group --data /work/shared/dsb2018 --only "$out/ids.txt" --no-tune --set $P $S
  else
    cp -r "$root/before/split-group/predictions/unet" "$W/predictions/"
  fi
  M="predict.scale_select.candidates=[]"; [ $v = select ] && M="predict.scale_select.candidates=[1.0,0.67,0.5,0.33]"
  /usr/bin/time -f "maskrcnn predict ($v) %e s" .venv/bin/python -m solutions.maskrcnn.predict --run maskrcnn-mobilenet-fold4 \
    --split oof --work "$root/$v" --split-by group --data /work/shared/dsb2018 --only "$out/ids.txt" --set "$M"
  .venv/bin/python -m ensemble --config ensemble/configs/demo.yaml --work "$W" --data /work/shared/dsb2018 \
    --solutions unet,maskrcnn-mobilenet --folds 4 --splits oof --no-submission
done
A="$root/before/split-group/predictions"; B="$root/select/split-group/predictions"
.venv/bin/python bench/bench_paired.py "unet=$A/unet/oof" "maskrcnn_before=$A/maskrcnn-mobilenet/oof" \
  "maskrcnn_select=$B/maskrcnn-mobilenet/oof" "ensemble_before=$A/ensemble/oof" "ensemble_select=$B/ensemble/oof" \
  --ids "$out/ids.txt" --data /work/shared/dsb2018 --out "$out/paired"
