#!/bin/bash
# The runs of this folder were predicted by OpenVINO in bfloat16 (this machine has AVX512_BF16; fixed
# in the commit after them). Predict two of the networks again, in float32, on the same images.
cd /work/main
for g in g62:0 g60:1; do
  run=${g%%:*}; f=${g##*:}
  .venv/bin/python bench/bench_magnify.py --run /tmp/$run/work/split-group/runs/unet-fold$f \
    --data /work/shared/dsb2018 --ids /tmp/g64/${run}_ids.txt --factors 1 --variant f32: \
    --out bench/results/balance30_cpu_20261203/f32_group$f 2>&1 | grep "magnify\]"
done
