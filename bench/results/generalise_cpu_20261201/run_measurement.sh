#!/usr/bin/env bash
# The measurement behind this folder's report: 5 folds of the cpu30 U-Net on one split,
# each trained for train.time_budget_s=200 s (steps_per_epoch 25: the budget is checked
# at epoch ends), then its out-of-fold images predicted without TTA (predict.tta=none).
# Thresholds are NOT tuned on the OOF images (post.tune=false): tuning on the held-out
# fold would leak the held-out group into the model. Same settings on both splits.
#   usage: run_measurement.sh SRC WORK SPLIT     (SPLIT: stratified | group)
# SRC is a `git archive` of the commit named in README.md (so edits made in the shared
# tree while it ran cannot change it); the venv is the repository's.
set -euo pipefail
SRC=$1; WORK=$2; SPLIT=$3
PY=/work/main/.venv/bin/python
DATA=/work/shared/dsb2018
export PYTHONPATH=$SRC TF_CPP_MIN_LOG_LEVEL=2
SPLIT_ARGS=()
[ "$SPLIT" = group ] && SPLIT_ARGS=(--split-by group)
cd "$SRC"
for k in 0 1 2 3 4; do
  echo "=== $(date -u +%FT%TZ) split=$SPLIT fold=$k train"
  $PY -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $k \
      --data $DATA --work "$WORK" "${SPLIT_ARGS[@]}" --verbose 2 \
      --set train.time_budget_s=200 train.steps_per_epoch=25 post.tune=false predict.tta=none
  echo "=== $(date -u +%FT%TZ) split=$SPLIT fold=$k predict oof"
  $PY -m solutions.unet.predict --run unet-fold$k --split oof --data $DATA --work "$WORK" "${SPLIT_ARGS[@]}"
done
echo "=== $(date -u +%FT%TZ) split=$SPLIT done"
