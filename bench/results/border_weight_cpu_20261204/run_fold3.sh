#!/bin/bash
# Border weight 2 (loss.channel_weights=[1,2,0.5]) on group fold 3 (brightfield and fluorescence held out), against
# the stored plain run of /tmp/ens (82a8587, gray_invert_percentile, 1,800 s): the same recipe
# and input mode, the same 40 held-out images, no tuning.
set -uo pipefail
cd /tmp/bfm/src   # a snapshot of 4dda880 with .venv linked
W=/tmp/bw/work
echo "== bw3 start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold 3 \
  --data /work/shared/dsb2018 --work $W --split-by group --run-name unet-fold3 --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false \
  data.normalise=gray_invert_percentile 'loss.channel_weights=[1.0,2.0,0.5]' > /tmp/bw/train3.log 2>&1 || echo "== train FAILED"
echo "== bw3 predict $(date -u +%H:%M:%S)"
.venv/bin/python -m solutions.unet.predict --run unet-fold3 --split oof --work $W --split-by group \
  --data /work/shared/dsb2018 --only /tmp/bw/ids3.txt --no-tune > /tmp/bw/predict3.log 2>&1 || echo "== predict FAILED"
echo "== bw3 end $(date -u +%H:%M:%S)"
