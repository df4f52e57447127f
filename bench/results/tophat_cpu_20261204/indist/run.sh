#!/bin/bash
# In-distribution brightfield: 8 of the 16 brightfield images held out in fold 0 (the other 8 in
# training), the shipped cpu30 U-Net 1,800 s, with gray_invert_percentile (plain) and with
# gray_invert_percentile_tophat (tophat); 40 fold-0 images predicted (8 brightfield + 32 others).
set -uo pipefail
cd /tmp/bft/src
for side in plain tophat; do
  mode=gray_invert_percentile; [ $side = tophat ] && mode=gray_invert_percentile_tophat
  echo "== $side start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
  .venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold 0 \
    --data /work/shared/dsb2018 --work /tmp/bft/$side --run-name unet-fold0 --verbose 2 \
    --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false data.normalise=$mode \
    > /tmp/bft/$side/train.log 2>&1 || echo "== $side train FAILED"
  echo "== $side predict $(date -u +%H:%M:%S)"
  .venv/bin/python -m solutions.unet.predict --run unet-fold0 --split oof --work /tmp/bft/$side \
    --data /work/shared/dsb2018 --only /tmp/bft/ids.txt --no-tune > /tmp/bft/$side/predict.log 2>&1 \
    || echo "== $side predict FAILED"
  echo "== $side end $(date -u +%H:%M:%S)"
done
