#!/usr/bin/env bash
# Issue 14 instance filter measurement: the cpu30 U-Net on the 5 GROUP folds (folds_group.csv),
# a fixed EPOCHS x 25 steps per fold (train.epochs=EPOCHS x steps_per_epoch=25, cosine LR decay over them,
# no time budget, no validation split, no early stopping), then out-of-fold prediction without
# TTA and without threshold tuning (post.tune=false: tuning on the held-out fold would show the
# model its group).
# Pass 1: per fold, train then predict the first LIMIT1 (sorted ids: hashes, so a fixed
# pseudo-random subset) of the fold's OOF images. Pass 2: predict the rest of every fold
# (predict resumes per image), as far as time allows.
#   usage: run_group_oof.sh SRC WORK LIMIT1 EPOCHS "FOLDS"  (several processes may share a
#          WORK with disjoint FOLDS)
# SRC is a `git archive` of the commit in SRC/COMMIT; the venv is the repository's.
set -euo pipefail
SRC=$1; WORK=$2; LIMIT1=$3; EPOCHS=$4; FOLDS=$5
PY=/work/main/.venv/bin/python
DATA=/work/shared/dsb2018
export PYTHONPATH=$SRC TF_CPP_MIN_LOG_LEVEL=2
cd "$SRC"
for k in $FOLDS; do
  echo "=== $(date -u +%FT%TZ) group fold=$k train"
  $PY -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold $k \
      --data $DATA --work "$WORK" --split-by group --verbose 2 \
      --set train.time_budget_s=0 train.lr_schedule=cosine train.epochs=$EPOCHS train.steps_per_epoch=25 \
            train.patience=0 data.val_fraction=0 post.tune=false predict.tta=none
  echo "=== $(date -u +%FT%TZ) group fold=$k predict oof (first $LIMIT1)"
  $PY -m solutions.unet.predict --run unet-fold$k --split oof --data $DATA --work "$WORK" \
      --split-by group --limit $LIMIT1
done
for k in $FOLDS; do
  echo "=== $(date -u +%FT%TZ) group fold=$k predict oof (all)"
  $PY -m solutions.unet.predict --run unet-fold$k --split oof --data $DATA --work "$WORK" \
      --split-by group
done
echo "=== $(date -u +%FT%TZ) folds $FOLDS done"
