#!/bin/bash
# issue 14, second part: base vs gray_invert_percentile on the other group folds (time ran short
# for gi_aug / scale_norm, which ran on fold 4 only)
cd /tmp/g16/src
for f in 2 1 0 3; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g16/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant base: \
    --variant gi:data.normalise=gray_invert_percentile \
    --out /tmp/g16/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
