#!/bin/bash
# The reference networks of train.sh, predicted the same way (predict.sh): the shipped cpu30
# U-Nets trained with strong's scale range (0.6-1.6), group fold 4 (../defaults_cpu_20261204/fold4/)
# and stratified fold 0 (../strat_families_cpu_20261205/train.sh), both 1,800 s.
# Usage: reference.sh ROOT GROUP_RUN GROUP_CSV STRAT_RUN STRAT_CSV   (ROOT: a new scratch folder)
set -euo pipefail
root=$1; grun=$2; gcsv=$3; srun=$4; scsv=$5
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
mkdir -p "$root/split-group/runs" "$root/runs"
cp "$gcsv" "$root/split-group/folds_group.csv"; cp "$scsv" "$root/folds.csv"
rm -rf "$root/split-group/runs/unet-fold4" "$root/runs/unet-fold0"
cp -r "$grun" "$root/split-group/runs/unet-fold4"; cp -r "$srun" "$root/runs/unet-fold0"
"$here/predict.sh" "$root" group 4
"$here/predict.sh" "$root" stratified 0
