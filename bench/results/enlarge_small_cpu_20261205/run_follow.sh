#!/usr/bin/env bash
# issue 14: enlarge_below with the shipped floors. The group-fold runs' own config.yaml predate
# floors_follow_scale (on in watershed.yaml since 2026-12-05), and bench_magnify predicts with
# the run's config: run.sh's variants (in fixed/) ran with fixed floors. Here both variants set
# it, as the shipped config does:
#   follow  multiscale (shrink only), floors follow the scale: what cpu30 ships
#   enl10   the same plus predict.scale_norm.enlarge_below=0.1
# Usage: run_follow.sh RUNS IDS_DIR FOLD OUT FACTORS...
set -euo pipefail
runs=$1; ids=$2; fold=$3; out=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids/ids_fold$fold.txt" --factors "$@" \
  --variant "follow:$S.floors_follow_scale=true" \
  --variant "enl10:$S.floors_follow_scale=true,$S.enlarge_below=0.1" \
  --out "$here/$out"
