#!/bin/bash
# issue 14: U-Net input switches on all 5 group folds, 200 steps each, fold-major
cd /tmp/g16/src
for f in 4 2 1 0 3; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g16/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant base: \
    --variant gi:data.normalise=gray_invert_percentile \
    --variant "gi_aug:data.normalise=gray_invert_percentile data.scale_range=[0.5,2.0] data.stain_augment=0.3 data.blur_noise=0.2" \
    --predict-variant "gi_aug_sn:gi_aug:predict.scale_norm.enabled=true" \
    --out /tmp/g16/out/fold$f || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
