#!/bin/bash
# issue 14: the shipped cpu30 U-Net at its full 30 minutes on stratified folds (default thresholds,
# post.tune=false, flip TTA), predicting only the held-out images that the group runs predicted
# (group_ids.txt: the first 40 of each group fold), so the gap is paired per image
cd /tmp/g41/src
for f in 0 1 2 4 3; do
  echo "== stratified fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_generalise.py --work /tmp/g41/work --data /work/shared/dsb2018 \
    --train --splits stratified --train-folds $f --budget 1800 \
    --config solutions/unet/configs/cpu30.yaml --oof-ids /tmp/g41/group_ids.txt --worst 0 \
    --set post.tune=false --out /tmp/g41/out/strat$f 2>&1 \
    | grep --line-buffered -v "UserWarning\|truth = " || echo "stratified fold $f FAILED"
  echo "== stratified fold $f end $(date -u +%H:%M:%S)"
done
echo "== all done $(date -u +%H:%M:%S)"
