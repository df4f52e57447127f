#!/usr/bin/env bash
# per-scale scores at native size, group folds given, from /tmp/s1/snap2 (+ scales.py copied in)
set -euo pipefail
cd /tmp/s1/snap2
for f in "$@"; do
  run=/tmp/s1/work/split-group/runs/unet-fold$f; [ -f $run/train_summary.json ] || run=/tmp/z1/work/split-group/runs/unet-fold$f
  grep "^$f," /dev/null || true
  .venv/bin/python -c "
import pandas as pd; g=pd.read_csv('/work/main/bench/results/dim_nuclei_cpu_20261206/folds_group.csv')
open('/tmp/s1/ids_g$f.txt','w').write('\n'.join(g[g.fold==$f].image_id)+'\n')"
  .venv/bin/python /work/main/bench/results/denoise_gate_cpu_20261206/selection/scales.py $run /tmp/s1/ids_g$f.txt \
    /tmp/s1/scales_g$f.json --factors 1 --scales 1 0.67 0.5 0.33
done
