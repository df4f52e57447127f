#!/bin/bash
# issue 14, third part: fold 3 (holds the brightfield kind) before fold 0 (a sub-kind of
# 256x256 fluorescence), after fold 1 (started by run2.sh) ends
cd /tmp/g16/src
while pgrep -f "bench_normalise.py --work /tmp/g16/work --data /work/shared/dsb2018 --fold 1" >/dev/null; do sleep 10; done
echo "== fold 1 end $(date -u +%H:%M:%S)"
for f in 3 0; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g16/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant base: \
    --variant gi:data.normalise=gray_invert_percentile \
    --out /tmp/g16/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
