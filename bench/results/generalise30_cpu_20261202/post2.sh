#!/bin/bash
# issue 14, after post.sh's fold 1: fold 4 (the large-nuclei kinds: no TTA and scale_norm) and fold 0
# and fold 1 (no TTA only: scale_norm scored -0.044 on fold 3 and costs 30x the prediction time)
cd /tmp/g30/src
M=/tmp/g30/work/split-group/predictions/unet/oof
while pgrep -f "bench_normalise.py --work /tmp/g31 " > /dev/null; do sleep 20; done
post() {
  f=$1; shift
  while [ ! -f $M/_summary_fold$f.json ] || pgrep -f "bench_generalise.py .*--train-folds $f " > /dev/null; do sleep 20; done
  echo "== post fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  nice -n 19 .venv/bin/python bench/bench_normalise.py --work /tmp/g31 --data /work/shared/dsb2018 --split-by group \
    --fold $f --oof-limit 40 --variant cpu30: --predict-variant "c30_none:cpu30:predict.tta=none" "$@" \
    --out /tmp/g31/out/fold$f 2>&1 | grep -v "UserWarning\|truth = " || echo "post fold $f FAILED"
  echo "== post fold $f end $(date -u +%H:%M:%S)"
}
post 1
post 4 --predict-variant "c30_sn:cpu30:predict.scale_norm.enabled=true"
post 0
