#!/bin/bash
# issue 14: the shipped cpu30 U-Net at its full 30 minutes on one group fold, with optional overrides;
# first 40 held-out images, flip TTA, default thresholds (post.tune=false).
# Usage: run_group.sh DIR FOLD [KEY=VALUE ...]   (DIR holds src/, a snapshot of the repo)
set -uo pipefail
dir=$1; f=$2; shift 2
cd "$dir/src"
echo "== group fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT) set: $*"
.venv/bin/python bench/bench_generalise.py --work "$dir/work" --data /work/shared/dsb2018 \
  --train --splits group --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-limit 40 --worst 0 \
  --set post.tune=false "$@" --out "$dir/out/group$f" 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "group fold $f FAILED"
echo "== group fold $f end $(date -u +%H:%M:%S)"
