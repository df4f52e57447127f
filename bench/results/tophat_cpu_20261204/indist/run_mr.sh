#!/bin/bash
# Mask R-CNN with brightfield in training: the custom split of /tmp/bft (8 of 16 brightfield held
# out in fold 0), the shipped cpu_small Mask R-CNN (MobileNet, random init, gray_invert_percentile),
# 1,500 s as in ensemble_group_cpu_20261204; the same 40 fold-0 images predicted as the U-Net's.
set -uo pipefail
cd /tmp/bfm/src   # a snapshot of 4dda880 with .venv linked
W=/tmp/bft/tophat
echo "== mr start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python -m solutions.maskrcnn.train --config solutions/maskrcnn/configs/cpu_small.yaml --fold 0 \
  --data /work/shared/dsb2018 --work $W --run-name maskrcnn-mobilenet-fold0 --verbose 2 \
  --set model.backbone=mobilenet n_folds=5 train.time_budget_s=1500 > /tmp/bfm/train.log 2>&1 || echo "== train FAILED"
echo "== mr predict $(date -u +%H:%M:%S)"
.venv/bin/python -m solutions.maskrcnn.predict --run maskrcnn-mobilenet-fold0 --split oof --work $W \
  --data /work/shared/dsb2018 --solution maskrcnn-mobilenet --only /tmp/bft/ids.txt > /tmp/bfm/predict.log 2>&1 \
  || echo "== predict FAILED"
echo "== mr end $(date -u +%H:%M:%S)"

# Then the two-member ensembles on the same 40 images (configs: ensemble/configs/demo.yaml with
# unet-baseline left out; ens_demo without by_type, ens_bytype with brightfield: {unet: 0.0},
# the shipped choice), each run as
#   .venv/bin/python -m ensemble --config CFG --work /tmp/bft/tophat --data /work/shared/dsb2018 \
#     --solutions unet,maskrcnn-mobilenet --folds 0 --splits oof --no-submission
# and paired_mr.md by (P=/tmp/bft/tophat/predictions)
#   .venv/bin/python bench/bench_paired.py unet=$P/unet/oof maskrcnn=$P/maskrcnn-mobilenet/oof \
#     demo=$P/ens_demo/oof bytype=$P/ens_bytype/oof --data /work/shared/dsb2018 --ids /tmp/bft/ids.txt \
#     --out bench/results/tophat_cpu_20261204/indist   (then renamed paired_mr.md / .json)
