#!/bin/bash
# issue 14: how much of stratified fold 0's score at today's speed is the shrink-only scale
# normalisation cpu30 ships? The same network (/tmp/g70 fold 0), the same held-out images at
# native size, predicted with it off and on. Prediction only, at nice 19 beside a training.
cd /work/main
echo "== start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
nice -n 19 .venv/bin/python bench/bench_magnify.py --run /tmp/g70/work/runs/unet-fold0 \
  --data /work/shared/dsb2018 --ids /tmp/g70/s0_ids.txt --factors 1 \
  --variant off:predict.scale_norm.enabled=false --variant shipped: \
  --out bench/results/strat30_cpu_20261203/scale_norm_strat0 2>&1 | grep -v "Warn\|truth = " | tail -25
echo "== end $(date -u +%H:%M:%S)"
