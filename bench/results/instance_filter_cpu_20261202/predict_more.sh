#!/usr/bin/env bash
# Extend the group-OOF predictions of the 50-step cpu30 U-Nets of bench/results/generalise_cpu_20261201
# (runs in /tmp/gen14/work/split-group/runs, code /tmp/gen14/src = commit b37a06a) from the first 40
# to the first LIMIT out-of-fold images per fold (sorted ids), into WORK (which holds copies of
# the 40 already predicted; predict skips them). No TTA, no threshold tuning, as the original.
#   usage: predict_more.sh WORK LIMIT "FOLDS"
set -euo pipefail
WORK=$1; LIMIT=$2; FOLDS=$3
PY=/work/main/.venv/bin/python
export PYTHONPATH=/tmp/gen14/src TF_CPP_MIN_LOG_LEVEL=2 PYTHONDONTWRITEBYTECODE=1
cd /tmp/gen14/src
for k in $FOLDS; do
  echo "=== $(date -u +%FT%TZ) fold=$k predict oof (first $LIMIT)"
  $PY -m solutions.unet.predict --run /tmp/gen14/work/split-group/runs/unet-fold$k --split oof \
      --data /work/shared/dsb2018 --work "$WORK" --split-by group --limit $LIMIT --no-tune
done
echo "=== $(date -u +%FT%TZ) folds $FOLDS done"
