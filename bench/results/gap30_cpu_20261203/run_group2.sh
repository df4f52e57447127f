#!/bin/bash
# issue 14: group fold 2 of the shipped cpu30 U-Net at its full 30 minutes (default thresholds,
# post.tune=false), first 40 held-out images with flip TTA; then the same recipe on stratified
# folds, predicting only the held-out images that the group runs predicted (paired gap)
cd /tmp/g40/src
f=2
echo "== group fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
.venv/bin/python bench/bench_generalise.py --work /tmp/g40/work --data /work/shared/dsb2018 \
  --train --splits group --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-limit 40 --worst 0 --set post.tune=false \
  --out /tmp/g40/out/group$f 2>&1 | grep --line-buffered -v "UserWarning\|truth = " || echo "group fold $f FAILED"
echo "== group fold $f end $(date -u +%H:%M:%S)"
while [ ! -f /tmp/g41/ready ]; do sleep 20; done
exec /tmp/g41/run.sh
