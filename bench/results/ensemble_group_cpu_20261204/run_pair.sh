#!/bin/bash
# issue 14: both families on one group fold, into one work folder, for the ensemble and its
# per-type choice (ensemble.by_type): the shipped cpu30 U-Net (1,800 s, default thresholds,
# post.tune=false) and the shipped cpu_small Mask R-CNN (MobileNet, random init offline,
# data.normalise=gray_invert_percentile from base.yaml, 1,500 s); first 40 held-out images each.
# Usage: run_pair.sh DIR FOLD   (DIR holds src/, a snapshot of the repo with .venv linked and COMMIT)
set -uo pipefail
dir=$1; f=$2
cd "$dir/src"
echo "== fold $f unet start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python bench/bench_generalise.py --work "$dir/work" --data /work/shared/dsb2018 \
  --train --splits group --train-folds "$f" --budget 1800 --solutions unet \
  --config solutions/unet/configs/cpu30.yaml --oof-limit 40 --worst 0 \
  --set post.tune=false --out "$dir/out/unet$f" 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "== fold $f unet FAILED"
echo "== fold $f maskrcnn start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
.venv/bin/python bench/bench_generalise.py --work "$dir/work" --data /work/shared/dsb2018 \
  --train --splits group --train-folds "$f" --budget 1500 --solutions maskrcnn-mobilenet \
  --config solutions/maskrcnn/configs/cpu_small.yaml --oof-limit 40 --worst 0 \
  --out "$dir/out/maskrcnn$f" 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "== fold $f maskrcnn FAILED"
echo "== fold $f end $(date -u +%H:%M:%S)"
