#!/bin/bash
# issue 14: the rest of group folds 1 and 4 at native size (every held-out image that neither
# explore.py nor validate.sh used), shipped against multiscale, as in validate.sh.
# Usage: rest.sh GROUP_WORK FOLD4_WORK VALIDATE_OUT OUT
set -euo pipefail
gw=$1; f4=$2; val=$3; out=$4
cd "$(dirname "$0")/../../.."
D=bench/results/scale_select_cpu_20261205
mkdir -p "$out"
.venv/bin/python - "$gw/folds_group.csv" "$f4/folds_group.csv" "$out" $D/ids_fold1.txt $D/ids_fold3.txt "$val"/fold*.txt <<'PY'
import sys
from pathlib import Path
import pandas as pd
used = set().union(*(Path(f).read_text().split() for f in sys.argv[4:]))
for name, csv, fold in (("fold1", sys.argv[1], 1), ("fold4", sys.argv[2], 4)):
    f = pd.read_csv(csv)
    ids = sorted(set(f[f.fold == fold].image_id) - used)
    (Path(sys.argv[3]) / f"{name}.txt").write_text("\n".join(ids) + "\n")
PY
P="post.mask_threshold=0.6,post.seed_threshold=0.7,post.centre_threshold=0.65,post.min_area=30,post.min_seed_area=8,post.split_solidity=0.9,data.normalise=gray_invert_percentile_tophat"
M="$P,predict.scale_norm.estimate=multiscale,predict.scale_norm.renormalise=true"
for f in 4 1; do
  w=$gw; [ $f = 4 ] && w=$f4
  .venv/bin/python bench/bench_magnify.py --run "$w/runs/unet-fold$f" --data /work/shared/dsb2018 \
    --ids "$out/fold$f.txt" --factors 1 --variant "shipped:$P" --variant "multiscale:$M" --out "$out/fold$f"
done
