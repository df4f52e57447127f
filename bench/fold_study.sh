#!/usr/bin/env bash
# One arm of a training-switch study on one fold: train the `cpu30` U-Net on a fold of the
# group or stratified split with extra --set overrides, check that the fold holds the images
# of its reference, then predict those held-out images as `cpu30` ships (bench_magnify.py).
#
# Run it from the repository root of a `git archive` of the commit under study (with .venv
# linked in), so that later edits of the working tree do not reach a training that is running:
#
#   git archive HEAD | tar -x -C /tmp/x/snap && ln -s "$PWD/.venv" /tmp/x/snap/.venv
#   (cd /tmp/x/snap && bench/fold_study.sh --split group --fold 2 --work /tmp/x/g2 \
#      --ids /tmp/x/ids_g2.txt --out /tmp/x/g2_pred -- data.grain=0.5)
#
# --split group: pre-seeds WORK/split-group/folds_group.csv from
#   bench/results/dim_nuclei_cpu_20261206/folds_group.csv (the split of every group-fold record);
#   a WORK that holds another split is refused.
# --split stratified: the trainer writes WORK/folds.csv (the split of gap_cpu_20261206).
# --ids: the held-out image ids to predict, one per line; every one must be held out by the fold
#   (checked before training where the split is already on disk, and against the run's
#   run_info.json after it).
# --budget: training seconds (default 1800, the recipe's). --factors: bench_magnify factors, one
#   quoted word (default "1"; e.g. "1 0.5"). --data: the dataset (default /work/shared/dsb2018).
# Everything after `--` goes to the trainer's --set. FOLD_STUDY_PYTHON: the interpreter
# (default .venv/bin/python).
# Writes the network under WORK (runs/unet-foldF, or split-group/runs/unet-foldF) and OUT
# (magnify.json and its table). It refuses an OUT or a run folder that exists.
set -euo pipefail
die() { echo "fold_study.sh: $*" >&2; exit 2; }
split="" fold="" work="" ids="" out="" budget=1800 factors="1" data=/work/shared/dsb2018
while [[ $# -gt 0 ]]; do
  case $1 in
    --split|--fold|--work|--ids|--out|--budget|--factors|--data)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      declare "${1#--}=$2"; shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument $1" ;;
  esac
done
for v in split fold work ids out; do
  [[ -n ${!v} ]] || die "--$v is required"
done
[[ -f $ids ]] || die "--ids file not found: $ids"
[[ -s $ids ]] || die "--ids file is empty: $ids"
[[ ! -e $out ]] || die "--out exists, not overwritten: $out"
[[ $(basename "$work") != split-group ]] || die "--work is the folder above split-group/, not $work"
PY=${FOLD_STUDY_PYTHON:-.venv/bin/python}
[[ -x $PY ]] || die "no python at $PY: run from the repository root (or set FOLD_STUDY_PYTHON)"
read -ra factor_list <<< "$factors"
[[ ${#factor_list[@]} -gt 0 ]] || die "--factors is empty"
case $split in
  group)
    split_args=(--split-by group); runs=$work/split-group/runs; folds=$work/split-group/folds_group.csv
    src=bench/results/dim_nuclei_cpu_20261206/folds_group.csv
    [[ -f $src ]] || die "the group split is missing: $src (run from the repository root)" ;;
  stratified)
    split_args=(); runs=$work/runs; folds=$work/folds.csv ;;
  *) die "--split is group or stratified, got $split" ;;
esac
run=$runs/unet-fold$fold
[[ ! -e $run ]] || die "run folder exists, not overwritten: $run"
if [[ $split == group ]]; then
  if [[ -e $folds ]]; then
    cmp -s "$folds" "$src" || die "$folds differs from $src (another split): use another --work"
  else
    mkdir -p "$(dirname "$folds")" && cp "$src" "$folds"
  fi
fi

check_ids() {  # check_ids FILE KIND: every --ids image is held out by the fold (KIND: folds or run_info)
  "$PY" - "$1" "$2" "$fold" "$ids" <<'EOF'
import json
import sys

path, kind, fold, ids = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if kind == "folds":
    from common.folds import load_folds, split_ids

    held = set(split_ids(load_folds(path), fold)[1])
else:
    held = set(json.load(open(path))["oof_ids"])
missing = set(open(ids).read().split()) - held
if missing:
    sys.exit(f"fold_study.sh: {len(missing)} of the --ids ({ids}) are not held out by fold {fold} of {path}, "
             f"e.g. {sorted(missing)[0]}")
EOF
}
[[ ! -e $folds ]] || check_ids "$folds" folds
"$PY" -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold "$fold" \
  --data "$data" --work "$work" "${split_args[@]}" --run-name "unet-fold$fold" --verbose 2 \
  --set solution=unet n_folds=5 train.time_budget_s="$budget" post.tune=false "$@"
check_ids "$run/run_info.json" run_info
[[ ! -e $out ]] || die "--out was written while training, not overwritten: $out"
S="predict.scale_norm"
"$PY" bench/bench_magnify.py --family unet --run "$run" --data "$data" --ids "$ids" \
  --factors "${factor_list[@]}" \
  --variant "enl10o:$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true" \
  --out "$out"
