# after both trainings: predict.adapt (300 steps) on the two new networks, interpolate 1 and 0.5, two seeds each
while [ "$(wc -l < /tmp/ag/train.done 2>/dev/null || echo 0)" -lt 2 ]; do sleep 20; done
export SW_SNAP=/tmp/ag/snap2 SW_LOGS=/tmp/ag
SW=/work/main/bench/results/adapt_switch_cpu_20261207/sw.sh
S=predict.adapt.steps=300
G="--split-by group"
for f in 3 4; do
  R=/tmp/ag/g$f/split-group/runs/unet-fold$f W=/tmp/ag/g$f B=/tmp/ag/pred_g${f}_base/magnify.json:enl10o/x1
  $SW g${f}a $R $W $B ad_a $G --set $S
  $SW g${f}h $R $W $B ad_h $G --set $S predict.adapt.interpolate=0.5
  $SW g${f}b $R $W $B ad_b $G --set $S seed=11
  $SW g${f}hb $R $W $B ad_hb $G --set $S seed=11 predict.adapt.interpolate=0.5
done
echo CORE DONE
for f in 3 4; do
  R=/tmp/ag/g$f/split-group/runs/unet-fold$f W=/tmp/ag/g$f B=/tmp/ag/pred_g${f}_base/magnify.json:enl10o/x1
  $SW g${f}f $R $W $B ad_f $G --set predict.adapt.steps=100
  $SW g${f}fb $R $W $B ad_fb $G --set predict.adapt.steps=100 seed=11
done
echo CHAIN DONE
