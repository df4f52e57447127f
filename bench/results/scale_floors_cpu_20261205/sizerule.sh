#!/usr/bin/env bash
# Follow-up of enlarge.sh: the size rule with floors that follow its scale gained at native
# size on group folds 1 and 2 but lost on fold 3. Where does it stand on the large nuclei of
# group fold 4 (native), and on fold 3 magnified 2x?
# Usage: sizerule.sh RUNS IDS FOLD OUT FACTORS...
set -euo pipefail
runs=$1; ids=$2; fold=$3; out=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids" --factors "$@" \
  --variant "sizerule_follow:$S.estimate=instances,$S.max_scale=2.0,$S.floors_follow_scale=true" \
  --out "$here/$out"
