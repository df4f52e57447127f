#!/bin/bash
# issue 14: candidates above 1 for the multiscale selector (enlarging small nuclei), native size,
# on the validation images of validate.sh (folds 1, 3, 4) and indist.sh (stratified fold 0):
# the shipped candidates (1, 0.67, 0.5, 0.33) against 2, 1.5 added (max_scale 2).
# Usage: enlarge.sh GROUP_WORK FOLD4_WORK STRAT_WORK RUNS OUT   (RUNS: holds validate/*.txt, indist/ids.txt)
set -euo pipefail
gw=$1; f4=$2; st=$3; runs=$4; out=$5
cd "$(dirname "$0")/../../.."
P="post.mask_threshold=0.6,post.seed_threshold=0.7,post.centre_threshold=0.65,post.min_area=30,post.min_seed_area=8,post.split_solidity=0.9,data.normalise=gray_invert_percentile_tophat"
M="$P,predict.scale_norm.estimate=multiscale,predict.scale_norm.renormalise=true"
U="$M,predict.scale_norm.max_scale=2.0,predict.scale_norm.candidates=[2.0,1.5,1.0,0.67,0.5,0.33]"
run() {  # RUN IDS OUTDIR
  .venv/bin/python bench/bench_magnify.py --run "$1" --data /work/shared/dsb2018 --ids "$2" --factors 1 \
    --variant "multiscale:$M" --variant "enlarge:$U" --out "$3"
}
run "$gw/runs/unet-fold3" "$runs/validate/fold3.txt" "$out/fold3"
run "$st/runs/unet-fold0" "$runs/indist/ids.txt" "$out/indist"
run "$gw/runs/unet-fold1" "$runs/validate/fold1.txt" "$out/fold1"
run "$f4/runs/unet-fold4" "$runs/validate/fold4.txt" "$out/fold4"
