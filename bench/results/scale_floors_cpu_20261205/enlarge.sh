#!/usr/bin/env bash
# Follow-up of run.sh: floors that follow the scale when the selection may also enlarge
# (nuclei smaller than training's). Same run and images, factors 0.5 and 1, variants:
#   enlarge_follow   candidates 1.5 and 2 as well (max_scale 2), floors_follow_scale
#   sizerule_follow  the size rule both ways (estimate instances, at most 2x), floors_follow_scale
# Without the switch these are ../small_nuclei_cpu_20261205/'s enlarge and sizerule.
# Usage: enlarge.sh RUNS IDS FOLD OUT
set -euo pipefail
runs=$1; ids=$2; fold=$3; out=$4
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids" --factors 0.5 1 \
  --variant "enlarge_follow:$S.candidates=[1.0,0.67,0.5,0.33,1.5,2.0],$S.max_scale=2.0,$S.floors_follow_scale=true" \
  --variant "sizerule_follow:$S.estimate=instances,$S.max_scale=2.0,$S.floors_follow_scale=true" \
  --out "$here/$out"
