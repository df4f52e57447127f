#!/bin/bash
# issue 14: the stratified side of the two families and of their ensemble, paired with the group
# side of ../ensemble_group_cpu_20261204/ on the same images. On stratified folds 0 and 1 (which
# hold 38 of that record's 80 group-held-out images), the shipped cpu30 U-Net (1,800 s,
# post.tune=false: the shipped thresholds, the values tuning picks) and the shipped cpu_small
# Mask R-CNN (MobileNet, random init offline, 1,500 s), each predicting only those images
# (--oof-ids). One training at a time.
# Usage: train.sh DIR IDS   (DIR holds src/, a snapshot of the repo with .venv linked and COMMIT;
# IDS the 80 image ids, e.g. `ls .../split-group/predictions/unet/oof`)
set -uo pipefail
dir=$1; ids=$2
cd "$dir/src"
for f in 0 1; do
  echo "== strat fold $f unet start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
  .venv/bin/python bench/bench_generalise.py --work "$dir/work" --data /work/shared/dsb2018 \
    --train --splits stratified --train-folds $f --budget 1800 --solutions unet \
    --config solutions/unet/configs/cpu30.yaml --oof-ids "$ids" --worst 0 \
    --set post.tune=false --out "$dir/out/unet$f" 2>&1 \
    | grep --line-buffered -v "UserWarning\|truth = " || echo "== fold $f unet FAILED"
  echo "== strat fold $f maskrcnn start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_generalise.py --work "$dir/work" --data /work/shared/dsb2018 \
    --train --splits stratified --train-folds $f --budget 1500 --solutions maskrcnn-mobilenet \
    --config solutions/maskrcnn/configs/cpu_small.yaml --oof-ids "$ids" --worst 0 \
    --out "$dir/out/maskrcnn$f" 2>&1 \
    | grep --line-buffered -v "UserWarning\|truth = " || echo "== fold $f maskrcnn FAILED"
  echo "== strat fold $f end $(date -u +%H:%M:%S)"
done
echo "== all done $(date -u +%H:%M:%S)"
