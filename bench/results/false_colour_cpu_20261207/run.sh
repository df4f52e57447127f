#!/usr/bin/env bash
# run.sh SNAP OUTDIR: probe.py from the git archive SNAP on three stored group-fold networks
# (session ai's group folds 1-3; shipped cpu30 recipe), one after another. Group fold 4 (session ah's
# network, 180 images, about 50 minutes here) was left out for time.
set -u
snap=$1 out=$2
cd "$snap"
for f in 3 2 1; do
  .venv/bin/python bench/results/false_colour_cpu_20261207/probe.py /tmp/ai/g$f/split-group/runs/unet-fold$f \
    /tmp/ai/ids_g$f.txt "$out/probe_g$f.json" > "$out/probe_g$f.log" 2>&1
done
echo "done $(date)" > "$out/done"
