#!/bin/bash
# issue 14/15: on all 5 group folds, 200 steps each, fold-major:
#   gi   = the default input (data.normalise: gray_invert_percentile), retrained (reproducibility
#          check against bench/results/generalise_cpu_20261202)
#   inv  = data.normalise=gray_invert (no percentile stretch): the ablation
#   gi_hflip, gi_flip = gi's networks predicted with 2-view and 4-view TTA
cd /tmp/g18/src
while pgrep -f run_bench.sh > /dev/null; do sleep 20; done
for f in 4 2 1 3 0; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g18/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant gi: \
    --variant inv:data.normalise=gray_invert \
    --predict-variant "gi_hflip:gi:predict.tta=hflip" \
    --predict-variant "gi_flip:gi:predict.tta=flip" \
    --out /tmp/g18/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
