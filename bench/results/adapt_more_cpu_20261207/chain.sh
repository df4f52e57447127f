#!/usr/bin/env bash
# Run from /tmp/ah/snap, a `git archive` of 9f3f805 with .venv linked in. For group folds 4, 2 and 3 in turn:
# train the shipped cpu30 recipe (bench/fold_study.sh, 1,800 s, alone), predict its held-out images as shipped,
# then the built switch predict.adapt (300 steps) with the run's seed (42) and with seed=11, each paired per image
# with the network before adapting (../adapt_switch_cpu_20261207/sw.sh).
set -u
cd /tmp/ah/snap
export SW_SNAP=/tmp/ah/snap SW_LOGS=/tmp/ah
SW=/work/main/bench/results/adapt_switch_cpu_20261207/sw.sh
S=predict.adapt.steps=300
for f in 4 2 3; do
  s=$(date +%s)
  bench/fold_study.sh --split group --fold $f --work /tmp/ah/g$f --ids /tmp/ah/ids_g$f.txt \
    --out /tmp/ah/pred_g${f}_base > /tmp/ah/train_g$f.log 2>&1
  echo "g$f rc=$? $(( $(date +%s) - s )) s" | tee -a /tmp/ah/train.done
  R=/tmp/ah/g$f/split-group/runs/unet-fold$f W=/tmp/ah/g$f B=/tmp/ah/pred_g${f}_base/magnify.json:enl10o/x1
  $SW g${f}a $R $W $B ad_a --split-by group --set $S
  $SW g${f}b $R $W $B ad_b --split-by group --set $S seed=11
done
echo CHAIN DONE
