#!/bin/bash
# issue 14: flip (4 views) and d4 (8 views) TTA on the gray_invert_percentile networks of all 5
# group folds (prediction only; the networks of run.sh/run2.sh/run3.sh)
cd /tmp/g16/src
while pgrep -f "bench_demo.py --clone /tmp/fresh-E3" >/dev/null; do sleep 10; done
for f in 4 2 1 3 0; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g16/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant gi:data.normalise=gray_invert_percentile \
    --predict-variant "gi_flip:gi:predict.tta=flip" \
    --predict-variant "gi_d4:gi:predict.tta=d4" \
    --out /tmp/g16/out_tta/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
