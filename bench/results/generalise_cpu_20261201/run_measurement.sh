#!/usr/bin/env bash
# The measurement behind this folder's report: the cpu30 U-Net on the folds of one split.
# Each fold trains for a fixed 50 steps (train.epochs=2 x steps_per_epoch=25, cosine LR
# decay over them, no time budget): on this shared 2-core machine (load 8-14 from other
# sessions) a wall-clock budget would give the two splits different amounts of training.
# Then the first 40 (by sorted id) of the fold's out-of-fold images are predicted
# (predict --limit 40; ids are hashes, so a deterministic pseudo-random subset), without
# TTA (predict.tta=none). Thresholds are NOT tuned on the OOF images (post.tune=false):
# tuning on the held-out fold would leak the held-out group into the model.
# Same settings on both splits. A fold already predicted (its _summary_fold<K>.json) is
# skipped; a run interrupted mid-training resumes from its last completed epoch.
#   usage: run_measurement.sh SRC WORK SPLIT [FOLDS]   (SPLIT: stratified | group;
#          FOLDS default "0 1 2 3 4"; two processes may share a WORK with disjoint FOLDS)
# SRC is a `git archive` of the commit named in README.md (so edits made in the shared
# tree while it ran cannot change it); the venv is the repository's.
set -euo pipefail
SRC=$1; WORK=$2; SPLIT=$3; FOLDS=${4:-0 1 2 3 4}
PY=/work/main/.venv/bin/python
DATA=/work/shared/dsb2018
export PYTHONPATH=$SRC TF_CPP_MIN_LOG_LEVEL=2
SPLIT_ARGS=(); OOF=$WORK/predictions/unet/oof
if [ "$SPLIT" = group ]; then SPLIT_ARGS=(--split-by group); OOF=$WORK/split-group/predictions/unet/oof; fi
cd "$SRC"
for k in $FOLDS; do
  if [ -f "$OOF/_summary_fold$k.json" ]; then echo "=== split=$SPLIT fold=$k done already"; continue; fi
  echo "=== $(date -u +%FT%TZ) split=$SPLIT fold=$k train"
  $PY -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $k \
      --data $DATA --work "$WORK" "${SPLIT_ARGS[@]}" --verbose 2 \
      --set train.time_budget_s=0 train.lr_schedule=cosine train.epochs=2 train.steps_per_epoch=25 \
            post.tune=false predict.tta=none
  echo "=== $(date -u +%FT%TZ) split=$SPLIT fold=$k predict oof"
  $PY -m solutions.unet.predict --run unet-fold$k --split oof --data $DATA --work "$WORK" \
      "${SPLIT_ARGS[@]}" --limit 40
done
echo "=== $(date -u +%FT%TZ) split=$SPLIT folds $FOLDS done"
