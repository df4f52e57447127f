#!/bin/bash
cd /tmp/g20/src
for f in 3 2; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g20/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant gi: \
    --out /tmp/g20/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
