#!/usr/bin/env bash
# chain.sh: train group fold 3 with the augmentation's streams fixed (one shared generator; the commit
# under study, snapshot /tmp/ak/snap4), the recipe otherwise that of the stored networks
# (data.flatten_background=false), then probe it with bench_shift.py as they were probed.
set -euo pipefail
out=/tmp/ak/seedfix
cd /tmp/ak/snap4
arm='shipped:data.fluorescence_gray=max,data.flatten_background=true'
views=as-is,gamma-0.5,gamma-2,saturate-3,blur-1.5,blur-3,noise-6,jpeg-25
bench/fold_study.sh --split group --fold 3 --work /tmp/ak/g3s --ids /tmp/ai/ids_g3.txt --out /tmp/ak/g3s_pred \
  -- data.flatten_background=false > /tmp/ak/g3s.log 2>&1
.venv/bin/python bench/bench_shift.py --run /tmp/ak/g3s/split-group/runs/unet-fold3 --ids /tmp/ai/ids_g3.txt \
  --views $views --arm "$arm" --every 3 --out $out/probe_g3.json > $out/probe_g3.log 2>&1
echo "done $(date)" > $out/done
