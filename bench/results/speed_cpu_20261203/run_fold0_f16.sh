#!/bin/bash
# issue 14: cpu30 with 16 base filters instead of 12 (the speed-up spent on capacity), 30 minutes,
# one input iterator per fit (common.endless) and common.allocator; the same command as
# bench/results/gap30_cpu_20261203/run_stratified.sh (fold 0), so the 46 held-out images pair
cd /tmp/g44/src
f=0
echo "== stratified fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python bench/bench_generalise.py --work /tmp/g44/work --data /work/shared/dsb2018 \
  --train --splits stratified --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-ids /tmp/g44/group_ids.txt --worst 0 \
  --set post.tune=false model.base_filters=16 --out /tmp/g44/out/strat$f 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "stratified fold $f FAILED"
echo "== stratified fold $f end $(date -u +%H:%M:%S)"
