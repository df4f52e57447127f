#!/bin/bash
# issue 14/15 continued: folds 2 1 3 0 with gi only (+ its TTA predict variants); fold 4 ran gi and inv (run.sh)
cd /tmp/g18/src
while pgrep -f "bench_normalise.py --work /tmp/g18/work" > /dev/null; do sleep 20; done
echo "== fold 4 end $(date -u +%H:%M:%S)"
for f in 2 1 3 0; do
  echo "== fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_normalise.py --work /tmp/g18/work --data /work/shared/dsb2018 \
    --fold $f --epochs 8 --oof-limit 40 \
    --variant gi: \
    --predict-variant "gi_hflip:gi:predict.tta=hflip" \
    --predict-variant "gi_flip:gi:predict.tta=flip" \
    --out /tmp/g18/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "fold $f FAILED"
  echo "== fold $f end $(date -u +%H:%M:%S)"
done
