#!/usr/bin/env bash
# Recorded as it ran. `probe.sh F SNAP ROOT NAME:SETS...`: group fold F's held-out images (ROOT/ids_gF.txt,
# from ../dim_nuclei_cpu_20261206/folds_group.csv) predicted at native size by ROOT/work's cpu30 network of
# that fold, with the shipped prediction plus each variant's SETS (comma-separated KEY=VALUE), from SNAP
# (a `git archive` of the commit named in README.md, with .venv linked); outputs in $OUT (default ROOT/dnF/).
set -euo pipefail
fold=$1; snap=$2; root=$3; shift 3
cd "$snap"
S="predict.scale_norm"; B="$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
variants=()
for v in "$@"; do variants+=(--variant "${v%%:*}:$B${v#*:}"); done
.venv/bin/python bench/bench_magnify.py --family unet --run $root/work/split-group/runs/unet-fold$fold \
  --data /work/shared/dsb2018 --ids ${IDS:-$root/ids_g$fold.txt} --factors 1 "${variants[@]}" --out ${OUT:-$root/dn$fold}
