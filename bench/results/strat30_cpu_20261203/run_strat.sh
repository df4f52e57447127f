#!/bin/bash
# issue 14: the shipped cpu30 U-Net at its full 30 minutes on stratified folds, with today's fit
# (one input iterator per fit), predicting the held-out images the group runs predicted
# (group_ids.txt), so the gap at today's speed is paired per image. One training at a time.
cd /tmp/g70/src
for f in "$@"; do
  echo "== stratified fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
  .venv/bin/python bench/bench_generalise.py --work /tmp/g70/work --data /work/shared/dsb2018 \
    --train --splits stratified --train-folds $f --budget 1800 \
    --config solutions/unet/configs/cpu30.yaml --oof-ids /tmp/g70/group_ids.txt --worst 0 \
    --set post.tune=false --out /tmp/g70/out/strat$f 2>&1 \
    | grep --line-buffered -v "UserWarning\|truth = " || echo "stratified fold $f FAILED"
  echo "== stratified fold $f end $(date -u +%H:%M:%S)"
done
echo "== all done $(date -u +%H:%M:%S)"
