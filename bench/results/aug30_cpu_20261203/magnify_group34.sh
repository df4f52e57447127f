#!/bin/bash
# issue 14: predict.scale_norm with tolerance 1.0 on native-size held-out images of group folds 3 and 4
# (the 30-minute networks /tmp/g49 and /tmp/g52 of this session); one at a time, CPU otherwise idle
cd /work/main
for f in 3 4; do d=$([ $f = 3 ] && echo g49 || echo g52)
  .venv/bin/python bench/bench_magnify.py --run /tmp/$d/work/split-group/runs/unet-fold$f --data /work/shared/dsb2018 \
    --ids /tmp/g48/g${f}_ids.txt --factors 1 --variant off: \
    --variant sn_t1:predict.scale_norm.enabled=true,predict.scale_norm.tolerance=1.0 --out /tmp/g48/group$f 2>&1 | grep "magnify\]"
done
