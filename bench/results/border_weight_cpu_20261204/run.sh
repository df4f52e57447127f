#!/bin/bash
# Border weight 2 (loss.channel_weights=[1,2,0.5]) on one group fold, against the stored plain
# run of /tmp/ens (82a8587, gray_invert_percentile, 1,800 s): the same recipe and input mode,
# the same 40 held-out images (IDS), no tuning. Ran as: run.sh 1 /tmp/bw/ids1.txt; run.sh 3 /tmp/bw/ids3.txt
# (the fold-1 run wrote its logs without the fold in their names).
set -uo pipefail
f=$1; ids=$2
cd /tmp/bfm/src   # a snapshot of 4dda880 with .venv linked
W=/tmp/bw/work
echo "== bw$f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold "$f" \
  --data /work/shared/dsb2018 --work $W --split-by group --run-name "unet-fold$f" --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false \
  data.normalise=gray_invert_percentile 'loss.channel_weights=[1.0,2.0,0.5]' > "/tmp/bw/train$f.log" 2>&1 || echo "== train FAILED"
echo "== bw$f predict $(date -u +%H:%M:%S)"
.venv/bin/python -m solutions.unet.predict --run "unet-fold$f" --split oof --work $W --split-by group \
  --data /work/shared/dsb2018 --only "$ids" --no-tune > "/tmp/bw/predict$f.log" 2>&1 || echo "== predict FAILED"
echo "== bw$f end $(date -u +%H:%M:%S)"
