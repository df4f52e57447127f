#!/bin/bash
# issue 14: does Mask R-CNN gain from the U-Net's input normalisation? cpu_small.yaml (MobileNet,
# random init offline), one group fold, 1500 s of training per run, data.normalise=none against
# gray_invert_percentile; first 40 held-out images, scored per image.
# Usage: run_mr.sh DIR FOLD   (DIR holds src/, a snapshot of the repo with .venv linked;
# the runs of 2026-12-04 were FOLD 1, into DIR/<mode>/, and FOLD 3, into DIR/f3_<mode>/)
set -uo pipefail
dir=$1; f=$2
cd "$dir/src"
for mode in none gray_invert_percentile; do
  echo "== $mode start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
  .venv/bin/python bench/bench_generalise.py --work "$dir/f${f}_$mode/work" --data /work/shared/dsb2018 \
    --train --splits group --train-folds "$f" --budget 1500 --solutions maskrcnn-mobilenet \
    --config solutions/maskrcnn/configs/cpu_small.yaml --oof-limit 40 --worst 0 \
    --set data.normalise=$mode --out "$dir/f${f}_$mode/out" 2>&1 \
    | grep --line-buffered -v "UserWarning\|truth = " || echo "== $mode FAILED"
  echo "== $mode end $(date -u +%H:%M:%S)"
done
