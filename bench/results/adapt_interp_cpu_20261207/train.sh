cd /tmp/ag/snap
for f in 3 4; do
  s=$(date +%s)
  bench/fold_study.sh --split group --fold $f --work /tmp/ag/g$f --ids /tmp/ag/ids_g$f.txt --out /tmp/ag/pred_g${f}_base > /tmp/ag/train_g$f.log 2>&1
  echo "g$f rc=$? $(( $(date +%s) - s )) s" >> /tmp/ag/train.done
done
