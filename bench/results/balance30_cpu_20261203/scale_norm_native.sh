#!/bin/bash
# issue 14: how much of today's group folds 1 and 2 is the shrink-only scale normalisation (cpu30's
# default since 8099f87)? The same networks (g60 fold 1, g63 fold 2), the same 40 held-out images
# at native size, predicted with it off and on. Prediction only, at nice 19 beside a training.
cd /work/main
for g in g60:1 g63:2; do
  run=${g%%:*}; f=${g##*:}
  echo "== $run fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  nice -n 19 .venv/bin/python bench/bench_magnify.py --run /tmp/$run/work/split-group/runs/unet-fold$f \
    --data /work/shared/dsb2018 --ids /tmp/g64/${run}_ids.txt --factors 1 \
    --variant off:predict.scale_norm.enabled=false --variant shipped: \
    --out bench/results/balance30_cpu_20261203/scale_norm_group$f 2>&1 | grep -v "Warn\|truth = " | tail -25
done
echo "== end $(date -u +%H:%M:%S)"
