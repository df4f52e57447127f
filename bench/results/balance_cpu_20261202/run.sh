#!/bin/bash
# issue 14: kind-balanced sampling (data.balance=0.5) vs uniform, cpu30 U-Net, 200 steps, gi input;
# stratified folds (all held-out images) interleaved with group folds (first 40 held-out; gi is stored
# in bench/results/generalise_cpu_20261202 and reproduced by /tmp/g20 fold 3)
cd /tmp/g21/src
while pgrep -f "bench_normalise.py --work /tmp/g20" > /dev/null; do sleep 15; done
strat() {
  echo "== strat fold $1 start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g21/strat --data /work/shared/dsb2018 --split-by stratified \
    --fold $1 --epochs 8 --variant gi: --variant bal:data.balance=0.5 \
    --out /tmp/g21/out/strat$1 2>&1 | grep -v "UserWarning\|truth = " || echo "strat fold $1 FAILED"
  echo "== strat fold $1 end $(date -u +%H:%M:%S)"
}
group() {
  echo "== group fold $1 start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g21/group --data /work/shared/dsb2018 --split-by group \
    --fold $1 --epochs 8 --oof-limit 40 --variant bal:data.balance=0.5 \
    --out /tmp/g21/out/group$1 2>&1 | grep -v "UserWarning\|truth = " || echo "group fold $1 FAILED"
  echo "== group fold $1 end $(date -u +%H:%M:%S)"
}
mkdir -p /tmp/g21/group/split-group && cp /tmp/g20/work/gi/split-group/folds_group.csv /tmp/g21/group/split-group/
strat 0; group 3; strat 1; group 1; strat 2; group 4; strat 3; group 2; strat 4; group 0
echo "== all done $(date -u +%H:%M:%S)"
