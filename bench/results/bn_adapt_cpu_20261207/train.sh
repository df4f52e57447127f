#!/usr/bin/env bash
# train group folds in turn, as shipped
cd /tmp/ai/snap
for f in "$@"; do
  s=$(date +%s)
  bench/fold_study.sh --split group --fold $f --work /tmp/ai/g$f --ids /tmp/ai/ids_g$f.txt \
    --out /tmp/ai/pred_g${f}_base > /tmp/ai/train_g$f.log 2>&1
  echo "g$f rc=$? $(( $(date +%s) - s )) s $(date)" >> /tmp/ai/train.done
done
