#!/usr/bin/env bash
# run2.sh SNAP OUTDIR: the flatten arm of probe.py again, after the fit was changed to start from the
# darkest blocks (code review: a bright region along one side tilted the first fit). The shipped arm
# does not flatten, so its rows are run.sh's; merge.py joins the two.
set -u
snap=$1 out=$2
cd "$snap"
for f in 3 1 2; do
  .venv/bin/python bench/results/flat_background_cpu_20261207/probe.py /tmp/ai/g$f/split-group/runs/unet-fold$f \
    /tmp/ai/ids_g$f.txt "$out/probe_g$f.json" flatten > "$out/probe_g$f.log" 2>&1
done
.venv/bin/python bench/results/flat_background_cpu_20261207/probe.py /tmp/ah/g4/split-group/runs/unet-fold4 \
  /tmp/ai/ids_g4.txt "$out/probe_g4.json" flatten > "$out/probe_g4.log" 2>&1
echo "done $(date)" > "$out/done"
