#!/bin/bash
# Group fold 4 (fluorescence 360x360 small nuclei + 520x696 large) with the shipped cpu30 U-Net,
# 1,800 s, post.tune=false: maps of all 180 held-out images for post-processing experiments.
set -uo pipefail
cd /tmp/bfm/src   # a snapshot of 4dda880 with .venv linked
W=/tmp/f4/work
echo "== f4 start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold 4 \
  --data /work/shared/dsb2018 --work $W --split-by group --run-name unet-fold4 --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false > /tmp/f4/train.log 2>&1 || echo "== train FAILED"
echo "== f4 predict $(date -u +%H:%M:%S)"
.venv/bin/python -m solutions.unet.predict --run unet-fold4 --split oof --work $W --split-by group \
  --data /work/shared/dsb2018 --no-tune > /tmp/f4/predict.log 2>&1 || echo "== predict FAILED"
echo "== f4 end $(date -u +%H:%M:%S)"
