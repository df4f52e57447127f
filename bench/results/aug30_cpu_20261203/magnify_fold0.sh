#!/bin/bash
# issue 14: simulated magnification on the 46 held-out images of stratified fold 0 (the 30-minute
# cpu30 network of /tmp/g43, commit 3325337): no scale normalisation vs scale_norm with tolerance 1.0
cd /work/main
echo "== start $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
nice -n 19 .venv/bin/python bench/bench_magnify.py --run /tmp/g43/work/runs/unet-fold0 --data /work/shared/dsb2018 \
  --ids /tmp/g48/s0_ids.txt --factors 0.5 1 2 3 --variant off: \
  --variant sn_t1:predict.scale_norm.enabled=true,predict.scale_norm.tolerance=1.0 \
  --out /tmp/g48/s0 2>&1 | grep -v "Warn\|truth = "
echo "== end $(date -u +%H:%M:%S)"
