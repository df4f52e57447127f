#!/bin/bash
# issue 14: (1) resume stratified fold 3 of the 30-minute cpu30 U-Net (killed at 1,749 s of its
# 1,800 s budget when the last session ended) and predict its share of group_ids.txt, completing
# the paired gap at 200 images; (2) group fold 1 again at the full throughput the stratified runs
# had (the stored group folds 0,1,3,4 trained ~20 epochs beside other work, the stratified ~29),
# to size the training-length confound of the gap
cd /tmp/g41/src
f=3
echo "== stratified fold $f resume start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
.venv/bin/python bench/bench_generalise.py --work /tmp/g41/work --data /work/shared/dsb2018 \
  --train --splits stratified --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-ids /tmp/g41/group_ids.txt --worst 0 \
  --set post.tune=false --out /tmp/g41/out/strat$f 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "stratified fold $f FAILED"
echo "== stratified fold $f end $(date -u +%H:%M:%S)"
cd /tmp/g42/src
f=1
echo "== group fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
.venv/bin/python bench/bench_generalise.py --work /tmp/g42/work --data /work/shared/dsb2018 \
  --train --splits group --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-limit 40 --worst 0 --set post.tune=false \
  --out /tmp/g42/out/group$f 2>&1 | grep --line-buffered -v "UserWarning\|truth = " || echo "group fold $f FAILED"
echo "== group fold $f end $(date -u +%H:%M:%S)"
