#!/usr/bin/env bash
# chain.sh: after the group fold 3 training (fold_study.sh, data.defocus=0.3) ends, probe its network
# with bench_shift.py as the stored network was probed (shift_cpu_20261207), then train group fold 1
# the same way and probe it. One job at a time, from the snapshot of 35110f7.
set -u
out=/tmp/ak/defocus
cd /tmp/ak/snap2
arm='shipped:data.fluorescence_gray=max,data.flatten_background=true'
views=as-is,gamma-0.5,gamma-2,saturate-3,blur-1.5,blur-3,noise-6,jpeg-25
while pgrep -f "fold_study.sh --split group --fold 3" > /dev/null; do sleep 15; done
.venv/bin/python bench/bench_shift.py --run /tmp/ak/g3d/split-group/runs/unet-fold3 --ids /tmp/ai/ids_g3.txt \
  --views $views --arm "$arm" --every 3 --out $out/probe_g3.json > $out/probe_g3.log 2>&1
bench/fold_study.sh --split group --fold 1 --work /tmp/ak/g1d --ids /tmp/ai/ids_g1.txt --out /tmp/ak/g1d_pred \
  -- data.defocus=0.3 data.flatten_background=false > /tmp/ak/g1d.log 2>&1
.venv/bin/python bench/bench_shift.py --run /tmp/ak/g1d/split-group/runs/unet-fold1 --ids /tmp/ai/ids_g1.txt \
  --views $views --arm "$arm" --every 3 --out $out/probe_g1.json > $out/probe_g1.log 2>&1
echo "done $(date)" > $out/done
