#!/bin/bash
# issue 14: post.merge_border on saved maps, paired (no network runs): group fold 2 of the 30-minute
# cpu30 U-Net (/tmp/g40) [and the stratified runs (/tmp/g41) with SPLIT=stratified]
SPLIT=${SPLIT:-group}
cd /work/main
if [ "$SPLIT" = group ]; then R=/tmp/g40/work/split-group; RUN=$R/runs/unet-fold2; FOLDS=$R/folds_group.csv; SUB=split-group; CF="--folds 2 --oof-limit 40"
else R=/tmp/g41/work; RUN=$R/runs/unet-fold0; FOLDS=$R/folds.csv; SUB=.; CF="--folds ${SFOLDS:-0} --ids /tmp/g41/group_ids.txt"; fi
W=/tmp/gm/$SPLIT
for v in "m00:" "m01:merge_border=0.1" "m02:merge_border=0.2" "m03:merge_border=0.3" "m04:merge_border=0.4"; do
  name=${v%%:*}; set=${v#*:}
  mkdir -p $W/$name/$SUB
  cp $FOLDS $W/$name/$SUB/
  nice -n 19 .venv/bin/python bench/bench_tune_transfer.py --pred-dir $R/predictions/unet/oof --folds-csv $FOLDS \
    --config $RUN/config.yaml --data /work/shared/dsb2018 --mode fixed ${set:+--set $set} \
    --out-pred $W/$name/$SUB/predictions/unet/oof 2>&1 | tail -1
done
nice -n 19 .venv/bin/python bench/bench_normalise.py --work $W --data /work/shared/dsb2018 --split-by $SPLIT --combine $CF \
  --variants m00 m01 m02 m03 m04 --out $W/comb 2>&1 | tail -60
