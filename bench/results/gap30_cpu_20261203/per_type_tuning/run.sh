#!/bin/bash
# issue 14: post-processing thresholds tuned per image type (cross-fitted over the stratified
# folds within each type) against tuned on all types (cross-fitted), on the saved maps of the
# 30-minute cpu30 stratified runs (200 images: the group-held-out ids), no network runs
set -e
cd /work/main
P=/tmp/g41/work/predictions/unet/oof; F=/tmp/g41/work/folds.csv; C=/tmp/g41/work/runs/unet-fold0/config.yaml
W=/tmp/pt/work; rm -rf $W; mkdir -p $W/base/predictions/unet $W/xtype/predictions/unet/oof
cp $F $W/base/; cp $F $W/xtype/
ln -s $P $W/base/predictions/unet/oof
.venv/bin/python bench/bench_tune_transfer.py --pred-dir $P --folds-csv $F --config $C --data /work/shared/dsb2018 \
  --mode cross --out-pred $W/xglob/predictions/unet/oof 2>&1 | grep tune_transfer
cp $F $W/xglob/
.venv/bin/python per_type_tuning/split_types.py $P /tmp/pt/types
for T in fluorescence histology brightfield; do
  .venv/bin/python bench/bench_tune_transfer.py --pred-dir /tmp/pt/types/$T --folds-csv $F --config $C \
    --data /work/shared/dsb2018 --mode cross --out-pred /tmp/pt/out_$T 2>&1 | grep tune_transfer
  cp /tmp/pt/out_$T/tune_transfer.json /tmp/pt/tune_transfer_$T.json
  for f in /tmp/pt/out_$T/*.npz; do ln -s $f $W/xtype/predictions/unet/oof/; done
done
.venv/bin/python bench/bench_normalise.py --work $W --data /work/shared/dsb2018 --split-by stratified --combine \
  --folds 0 1 2 3 4 --ids /tmp/g41/group_ids.txt --variants base xglob xtype --out /tmp/pt/comb 2>&1 | tail -60
