#!/bin/bash
# issue 14: prediction-time variants on each finished 30-minute group-fold network of /tmp/g30
# (paired, same network, first 40 held-out images): no TTA (against the stored 200-step gi, which had
# none) and scale normalisation (predict.scale_norm, flip TTA as cpu30). nice 19: the next fold's
# 30-minute training keeps the CPU.
cd /tmp/g30/src
M=/tmp/g30/work/split-group/predictions/unet/oof
for f in 3 1 4 0 2; do
  while [ ! -f $M/_summary_fold$f.json ] || pgrep -f "bench_generalise.py .*--train-folds $f " > /dev/null; do sleep 20; done
  echo "== post fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  if [ $f = 3 ]; then nice -n 19 .venv/bin/python /tmp/g31/relabel_fold3.py || echo "relabel FAILED"; fi
  nice -n 19 .venv/bin/python bench/bench_normalise.py --work /tmp/g31 --data /work/shared/dsb2018 --split-by group \
    --fold $f --oof-limit 40 --variant cpu30: \
    --predict-variant "c30_none:cpu30:predict.tta=none" \
    --predict-variant "c30_sn:cpu30:predict.scale_norm.enabled=true" \
    --out /tmp/g31/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "post fold $f FAILED"
  echo "== post fold $f end $(date -u +%H:%M:%S)"
done
