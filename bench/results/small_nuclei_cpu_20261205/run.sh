#!/usr/bin/env bash
# issue 14: nuclei smaller than training (a weaker objective). The shipped U-Net selection
# only shrinks (enlarging candidates lost 0.016 at native size, ../scale_blend_cpu_20261205/).
# Does enlarging earn its place on images shrunk 0.5x (nuclei with 1/4 the area)?
# The cpu30 U-Net of group fold FOLD (../unet_group5_cpu_20261205/) on its held-out images,
# factors 0.5 and 1, three prediction variants (bench/bench_magnify.py):
#   shipped   multiscale, candidates 1, 0.67, 0.5, 0.33 (shrink only)
#   enlarge   the same plus candidates 1.5 and 2
#   sizerule  the size rule both ways: rescale to the training median nucleus area when the
#             first pass's median is off by more than 2x (tolerance 1.0), at most 2x
# Usage: run.sh RUNS FOLDS_GROUP_CSV FOLD   (RUNS holds unet-fold<FOLD>)
set -euo pipefail
runs=$1; folds=$2; fold=$3
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
mkdir -p "$here/runs"
ids="$here/runs/ids_fold$fold.txt"
awk -F, -v want="$fold" 'NR==1{for(i=1;i<=NF;i++){if($i=="image_id")c=i; if($i=="fold")k=i}; next}
  $k==want{print $c}' "$folds" > "$ids"
S="predict.scale_norm"
.venv/bin/python bench/bench_magnify.py --family unet --run "$runs/unet-fold$fold" \
  --data /work/shared/dsb2018 --ids "$ids" --factors 0.5 1 \
  --variant shipped: \
  --variant "enlarge:$S.candidates=[1.0,0.67,0.5,0.33,1.5,2.0],$S.max_scale=2.0" \
  --variant "sizerule:$S.estimate=instances,$S.max_scale=2.0" \
  --out "$here/fold$fold"
