#!/usr/bin/env bash
# One arm of a training-switch study on one fold: train the `cpu30` U-Net on a fold of the
# group or stratified split with extra --set overrides, check that the fold holds the images
# of its reference, then predict those held-out images as `cpu30` ships (bench_magnify.py).
#
# Run it from a `git archive` of the commit under study (with .venv linked in), so that later
# edits of the working tree do not reach a training that is running:
#
#   git archive HEAD | tar -x -C /tmp/x/snap && ln -s "$PWD/.venv" /tmp/x/snap/.venv
#   (cd /tmp/x/snap && bench/fold_study.sh --split group --fold 2 --work /tmp/x/g2 \
#      --ids /tmp/x/ids_g2.txt --out /tmp/x/g2_pred -- data.grain=0.5)
#
# --split group: pre-seeds WORK/split-group/folds_group.csv from
#   bench/results/dim_nuclei_cpu_20261206/folds_group.csv (the split of every group-fold record).
# --split stratified: the trainer writes WORK/folds.csv (the split of gap_cpu_20261206).
# --ids: the held-out image ids to predict, one per line; the script stops when the fold's
#   held-out images differ from them (a stale or foreign split).
# --budget: training seconds (default 1800, the recipe's). --factors: bench_magnify factors
#   (default 1). Everything after `--` goes to the trainer's --set.
# Writes WORK/.../runs/unet-foldF (the network) and OUT (magnify.json and its table). It refuses
# an OUT or a run folder that exists.
set -euo pipefail
split="" fold="" work="" ids="" out="" budget=1800 factors="1"
while [[ $# -gt 0 ]]; do
  case $1 in
    --split) split=$2; shift 2 ;;
    --fold) fold=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --ids) ids=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --factors) factors=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "fold_study.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in split fold work ids out; do
  [[ -n ${!v} ]] || { echo "fold_study.sh: --$v is required" >&2; exit 2; }
done
[[ -f $ids ]] || { echo "fold_study.sh: --ids file not found: $ids" >&2; exit 2; }
[[ ! -e $out ]] || { echo "fold_study.sh: --out exists, not overwritten: $out" >&2; exit 2; }
PY=.venv/bin/python
case $split in
  group)
    mkdir -p "$work/split-group"
    src=bench/results/dim_nuclei_cpu_20261206/folds_group.csv
    if [[ -e $work/split-group/folds_group.csv ]]; then
      cmp "$work/split-group/folds_group.csv" "$src"
    else
      cp "$src" "$work/split-group/"
    fi
    split_args=(--split-by group); runs=$work/split-group/runs; folds=$work/split-group/folds_group.csv ;;
  stratified)
    split_args=(); runs=$work/runs; folds=$work/folds.csv ;;
  *) echo "fold_study.sh: --split is group or stratified, got $split" >&2; exit 2 ;;
esac
run=$runs/unet-fold$fold
[[ ! -e $run ]] || { echo "fold_study.sh: run folder exists, not overwritten: $run" >&2; exit 2; }
$PY -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold "$fold" \
  --data /work/shared/dsb2018 --work "$work" "${split_args[@]}" --run-name "unet-fold$fold" --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s="$budget" post.tune=false "$@"
$PY - "$folds" "$fold" "$ids" <<'EOF'
import sys
import pandas as pd
folds, fold, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3]
held = set(pd.read_csv(folds).query("fold == @fold").image_id)
want = set(open(ids).read().split())
assert want <= held, f"{len(want - held)} of the --ids are not held out by fold {fold} of {folds}"
EOF
S="predict.scale_norm"
$PY bench/bench_magnify.py --family unet --run "$run" --data /work/shared/dsb2018 --ids "$ids" \
  --factors $factors --variant "enl10o:$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true" \
  --out "$out"
