#!/usr/bin/env bash
# arms.sh F ARM...: predict.bn_adapt arms on group fold F's network, paired with its base prediction.
# ARM: N1 (weight 1, native), C1 (weight 1, chosen), N5 (0.5 native), C5 (0.5 chosen)
set -u
f=$1; shift
export SW_SNAP=${ARMS_SNAP:-/tmp/ai/snap3} SW_LOGS=/tmp/ai
SW=/work/main/bench/results/adapt_switch_cpu_20261207/sw.sh
R=/tmp/ai/g$f/split-group/runs/unet-fold$f W=/tmp/ai/g$f B=/tmp/ai/pred_g${f}_base/magnify.json:enl10o/x1
for a in "$@"; do
  case $a in N*) at=native ;; C*|K*) at=chosen ;; esac
  w=${a:1}; [ "$w" = 1 ] && w=1.0 || w=0.$w
  $SW g${f}$a $R $W $B bn_$a --split-by group --set predict.bn_adapt.weight=$w predict.bn_adapt.at=$at
done
echo "ARMS g$f DONE $(date)"
