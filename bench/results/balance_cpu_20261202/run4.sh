#!/bin/bash
# issue 14, continued after strat fold 0 (/tmp/g21/run.sh): kind-balanced sampling (bal) and synthetic
# cytoplasm (cyto) on group folds (first 40 held-out; gi stored), and bal vs gi on stratified folds
cd /tmp/g22/src
while pgrep -f "bench_normalise.py --work /tmp/g21" > /dev/null; do sleep 10; done
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
    --fold $1 --epochs 8 --oof-limit 40 --variant bal:data.balance=0.5 --variant cyto:data.cytoplasm=0.5 \
    --out /tmp/g21/out/group$1 2>&1 | grep -v "UserWarning\|truth = " || echo "group fold $1 FAILED"
  echo "== group fold $1 end $(date -u +%H:%M:%S)"
}
seedrep() {
  echo "== seed replicate start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g21/strat --data /work/shared/dsb2018 --split-by stratified \
    --fold 0 --epochs 8 --variant gi_s43:seed=43 \
    --out /tmp/g21/out/strat0_seed43 2>&1 | grep -v "UserWarning\|truth = " || echo "seed replicate FAILED"
  echo "== seed replicate end $(date -u +%H:%M:%S)"
}
gseedrep() {
  echo "== group seed replicate fold $1 start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g21/group --data /work/shared/dsb2018 --split-by group \
    --fold $1 --epochs 8 --oof-limit 40 --variant gi_s43:seed=43 \
    --out /tmp/g21/out/group$1_seed43 2>&1 | grep -v "UserWarning\|truth = " || echo "group seed replicate FAILED"
  echo "== group seed replicate fold $1 end $(date -u +%H:%M:%S)"
}
seedrep; gseedrep 4; group 2
echo "== all done $(date -u +%H:%M:%S)"
