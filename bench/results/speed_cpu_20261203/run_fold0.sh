#!/bin/bash
# The shipped cpu30 U-Net at its full 30 minutes, stratified fold 0, with one input iterator per
# fit (common.endless) and common.allocator; the same command as
# ../gap30_cpu_20261203/run_stratified.sh (fold 0), so the 46 held-out images pair.
# Usage: run_fold0.sh DIR [KEY=VALUE ...]   (DIR holds src/, a snapshot of the repo, and group_ids.txt)
#   section 3 ran: run_fold0.sh /tmp/g43            (commit 3325337)
#   section 4 ran: run_fold0.sh /tmp/g44 model.base_filters=16   (commit fabf517)
set -euo pipefail
dir=$1; shift
cd "$dir/src"
f=0
echo "== stratified fold $f start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg) commit $(cat COMMIT)"
.venv/bin/python bench/bench_generalise.py --work "$dir/work" --data /work/shared/dsb2018 \
  --train --splits stratified --train-folds $f --budget 1800 \
  --config solutions/unet/configs/cpu30.yaml --oof-ids "$dir/group_ids.txt" --worst 0 \
  --set post.tune=false "$@" --out "$dir/out/strat$f" 2>&1 \
  | grep --line-buffered -v "UserWarning\|truth = " || echo "stratified fold $f FAILED"
echo "== stratified fold $f end $(date -u +%H:%M:%S)"
