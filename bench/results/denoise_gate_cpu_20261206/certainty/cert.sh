#!/usr/bin/env bash
# plain vs smoothed-every-noisy-image (sigma 2, above 2, no size gate) on the noisy images of group folds given
set -euo pipefail
cd /tmp/s1/snap2
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
for f in "$@"; do
  run=/tmp/z1/work/split-group/runs/unet-fold$f; [ -d $run ] || run=/tmp/s1/work/split-group/runs/unet-fold$f
  .venv/bin/python bench/bench_magnify.py --family unet --run $run --data /work/shared/dsb2018 \
    --ids /tmp/s1/ids_g${f}_noisy.txt --factors 1 --variant "ship:$B" \
    --variant "dnu:$B,predict.denoise.sigma=2,predict.denoise.above=2,predict.denoise.larger_than=0" --out /tmp/s1/cert$f
done
