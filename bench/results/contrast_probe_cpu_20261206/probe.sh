#!/usr/bin/env bash
# Recorded as it ran: /tmp/x7/snap was `git archive 427d667` with probe_modes.patch applied.
# test-time input probes on the group networks: shipped vs CLAHE vs gamma 0.5
set -euo pipefail
cd /tmp/x7/snap
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
for fold in "$@"; do
  awk -F, -v f="$fold" 'NR > 1 && $2 == f {print $1}' /tmp/ug5/on/split-group/folds_group.csv > /tmp/x7/ids_g$fold.txt
  .venv/bin/python bench/bench_magnify.py --family unet --run /tmp/ug5/on/split-group/runs/unet-fold$fold \
    --data /work/shared/dsb2018 --ids /tmp/x7/ids_g$fold.txt --factors 1 \
    --variant "ship:$B" \
    --variant "clahe:$B,data.normalise=gray_invert_percentile_tophat_clahe" \
    --variant "gamma:$B,data.normalise=gray_invert_percentile_tophat_gamma" \
    --out /tmp/x7/probe_g$fold
done
