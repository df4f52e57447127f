#!/usr/bin/env bash
# run.sh SNAP OUTDIR: probe.py from the git archive SNAP on the four stored group-fold networks
# (session ai's group folds 1-3, session ah's group fold 4; shipped cpu30 recipe), one after another.
set -u
snap=$1 out=$2
cd "$snap"
for f in 3 1 2; do
  .venv/bin/python bench/results/flat_background_cpu_20261207/probe.py /tmp/ai/g$f/split-group/runs/unet-fold$f \
    /tmp/ai/ids_g$f.txt "$out/probe_g$f.json" > "$out/probe_g$f.log" 2>&1
done
.venv/bin/python bench/results/flat_background_cpu_20261207/probe.py /tmp/ah/g4/split-group/runs/unet-fold4 \
  /tmp/ai/ids_g4.txt "$out/probe_g4.json" > "$out/probe_g4.log" 2>&1
echo "done $(date)" > "$out/done"
