#!/usr/bin/env bash
# issue 14: predict.scale_norm.enlarge_over_shrink. On group fold 0 shrunk 0.5x the selection
# shrank all 128 images further (follow/fold0/), so enlarge_below, which only looked at images
# kept at scale 1, never ran. This variant applies it wherever the selection chose:
#   enl10o  floors following, enlarge_below=0.1, enlarge_over_shrink=true
# paired by paired.py against follow/ and enl10 of follow/foldF/ (the same networks and images).
# Usage: run_override.sh RUNS IDS_DIR FOLD OUT FACTORS...
set -euo pipefail
runs=$1; ids=$2; fold=$3; out=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids/ids_fold$fold.txt" --factors "$@" \
  --variant "enl10o:$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true" \
  --out "$here/$out"
