#!/bin/bash
# issue 14: the end of the 30-minute group-fold queue (folds 3, 1, 4, 0; fold 2 not run: the session's clock)
cd /tmp/g30/src
M=/tmp/g30/work/split-group/predictions/unet/oof
while pgrep -f "bench_normalise.py --work /tmp/g31 " > /dev/null; do sleep 10; done
nice -n 19 .venv/bin/python /tmp/g31/relabel.py /tmp/g31/c30_none 4 /tmp/g31/c30_sn 4 2>&1 | grep -v Warn
while [ ! -f $M/_summary_fold0.json ] || pgrep -f "bench_generalise.py .*--train-folds 0 " > /dev/null; do sleep 10; done
echo "== fold 0 done $(date -u +%H:%M:%S)"
.venv/bin/python /tmp/g31/relabel.py /tmp/g30/work 0 2>&1 | grep -v Warn
.venv/bin/python bench/bench_normalise.py --work /tmp/g31 --data /work/shared/dsb2018 --split-by group \
  --fold 0 --oof-limit 40 --variant cpu30: --predict-variant "c30_none:cpu30:predict.tta=none" \
  --out /tmp/g31/out/fold0 2>&1 | grep -v "UserWarning\|truth = " || echo "post fold 0 FAILED"
echo "== all done $(date -u +%H:%M:%S)"
