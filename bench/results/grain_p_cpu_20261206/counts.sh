#!/usr/bin/env bash
# The per-kind instance counts of README.md (run from the repository root; writes counts.md).
set -euo pipefail
R=bench/results/grain_p_cpu_20261206; G=bench/results/grain_cpu_20261206
E=bench/results/enlarge_small_cpu_20261205/override; K=enl10o/x1
C=".venv/bin/python $R/counts.py"
{
  echo "# Per network on one kind (\`bash $R/counts.sh\`)"; echo
  $C brightfield-1024x1024 old=$E/fold3/magnify.json:$K ref=$G/g3_ref/magnify.json:$K \
    g05=$G/g3_grain/magnify.json:$K g05_seed7=$R/g3_seed7/magnify.json:$K g02=$R/g3_p02/magnify.json:$K; echo
  $C fluorescence-512x640 old=$E/fold2/magnify.json:$K ref=$G/g2_ref/magnify.json:$K \
    g05=$G/g2_grain/magnify.json:$K g05_seed7=$R/g2_seed7/magnify.json:$K g02=$R/g2_p02/magnify.json:$K; echo
  echo "Stratified fold 1 (every kind seen; 3 of the 16 brightfield images held out):"; echo
  $C brightfield-1024x1024 gap=bench/results/gap_cpu_20261206/strat1/magnify.json:$K \
    ref=$G/s1_ref/magnify.json:$K g05=$G/s1_grain/magnify.json:$K
} > $R/counts.md.tmp
mv $R/counts.md.tmp $R/counts.md
