#!/bin/bash
# issue 14: the shipped cpu30 U-Net (gray_invert_percentile input), trained its full 30 minutes per
# group fold on this 2-core CPU, first 40 held-out images of each fold predicted (the same images as
# the 200-step references in bench/results/generalise_cpu_20261202), folds in the order 3,1,4,0,2
cd /tmp/g30/src
for f in 3 1 4 0 2; do
  echo "== group fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python bench/bench_generalise.py --work /tmp/g30/work --data /work/shared/dsb2018 \
    --train --splits group --train-folds $f --budget 1800 \
    --config solutions/unet/configs/cpu30.yaml --oof-limit 40 --worst 0 \
    --out /tmp/g30/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "group fold $f FAILED"
  echo "== group fold $f end $(date -u +%H:%M:%S)"
done
echo "== all done $(date -u +%H:%M:%S)"
