#!/usr/bin/env bash
# run.sh: bench_shift.py on the four stored group-fold networks of the cpu30 recipe, their held-out images
set -u
out=/tmp/ak/shift
cd /tmp/ak/snap
arm='shipped:data.fluorescence_gray=max,data.flatten_background=true'
views=as-is,gamma-0.5,gamma-2,saturate-3,blur-1.5,blur-3,noise-6,jpeg-25
for spec in ai:3 ai:1 ai:2 ah:4; do
  src=${spec%%:*} f=${spec##*:}
  .venv/bin/python bench/bench_shift.py --run /tmp/$src/g$f/split-group/runs/unet-fold$f --ids /tmp/ai/ids_g$f.txt \
    --views $views --arm "$arm" --every 3 --out $out/probe_g$f.json > $out/probe_g$f.log 2>&1
done
echo "done $(date)" > $out/done
