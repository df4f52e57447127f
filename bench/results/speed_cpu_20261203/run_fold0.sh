#!/bin/bash
# issue 14 / speed: the shipped cpu30 U-Net at its full 30 minutes, stratified fold 0, with
# one input iterator per fit (common.endless) and common.allocator; the same command as
# bench/results/gap30_cpu_20261203/run_stratified.sh (fold 0), so the 46 held-out images pair
cd /tmp/g43/src
f=0
echo "== stratified fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python bench/bench_generalise.py --work /tmp/g43/work --data /work/shared/dsb2018 \
  --train --splits stratified --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-ids /tmp/g43/group_ids.txt --worst 0 \
  --set post.tune=false --out /tmp/g43/out/strat$f 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "stratified fold $f FAILED"
echo "== stratified fold $f end $(date -u +%H:%M:%S)"
