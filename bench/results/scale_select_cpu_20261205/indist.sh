#!/bin/bash
# issue 14: the multiscale selector in distribution: the 30-minute cpu30 U-Net of stratified
# fold 0 (../strat_families_cpu_20261205/train.sh), 44 of its held-out images (all 21 histology,
# all 3 brightfield, 20 fluorescence, seeded), native size, shipped against multiscale.
# Usage: indist.sh STRAT_WORK OUT   (STRAT_WORK holds folds.csv and runs/unet-fold0)
set -euo pipefail
w=$1; out=$2
cd "$(dirname "$0")/../../.."
mkdir -p "$out"
.venv/bin/python - "$w/folds.csv" "$out/ids.txt" <<'PY'
import sys
import pandas as pd
f = pd.read_csv(sys.argv[1])
f = f[f.fold == 0]
ids = f[f.cluster != "fluorescence"].image_id.tolist() + f[f.cluster == "fluorescence"].sample(20, random_state=1).image_id.tolist()
open(sys.argv[2], "w").write("\n".join(ids) + "\n")
PY
P="post.mask_threshold=0.6,post.seed_threshold=0.7,post.centre_threshold=0.65,post.min_area=30,post.min_seed_area=8,post.split_solidity=0.9,data.normalise=gray_invert_percentile_tophat"
.venv/bin/python bench/bench_magnify.py --run "$w/runs/unet-fold0" --data /work/shared/dsb2018 --ids "$out/ids.txt" \
  --factors 1 --variant "shipped:$P" \
  --variant "multiscale:$P,predict.scale_norm.estimate=multiscale,predict.scale_norm.renormalise=true" --out "$out"
