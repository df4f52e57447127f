#!/usr/bin/env bash
# issue 14: cpu30 U-Nets of today's shipped recipe (input gray_invert_percentile_tophat,
# multiscale test-time selection) for the group folds that had none (1, 2, 3), so that with
# folds 0 and 4 (../ensemble_group13_cpu_20261205/, ../scale_aug30_cpu_20261205/) every group
# fold has one. Each trains its 1,800 s, then predicts its held-out images twice with
# the shipped thresholds and flip TTA: as shipped (multiscale selection) and with
# predict.scale_norm.enabled=false. Paired per image (bench/bench_paired.py).
# Usage: run.sh ROOT [FOLDS]   ROOT: a new scratch folder; FOLDS default "1 3 2".
set -euo pipefail
root=$1; which=${2:-1 3 2}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
mkdir -p "$here/runs"
for f in $which; do
  /usr/bin/time -f "unet train fold $f %e s" .venv/bin/python -m solutions.unet.train \
    --config solutions/unet/configs/cpu30.yaml --fold "$f" --data /work/shared/dsb2018 \
    --work "$root/on" --split-by group --run-name "unet-fold$f" \
    --set solution=unet n_folds=5 train.time_budget_s=1800 post.tune=false
  /usr/bin/time -f "unet predict fold $f shipped %e s" .venv/bin/python -m solutions.unet.predict \
    --run "unet-fold$f" --split oof --work "$root/on" --split-by group --data /work/shared/dsb2018 --no-tune
  mkdir -p "$root/off/split-group/runs"
  cp -r "$root/on/split-group/runs/unet-fold$f" "$root/off/split-group/runs/"
  cp "$root/on/split-group/folds_group.csv" "$root/off/split-group/"
  /usr/bin/time -f "unet predict fold $f noscale %e s" .venv/bin/python -m solutions.unet.predict \
    --run "unet-fold$f" --split oof --work "$root/off" --split-by group --data /work/shared/dsb2018 --no-tune \
    --set predict.scale_norm.enabled=false
done
awk -F, -v want=" $which " 'NR==1{for(i=1;i<=NF;i++){if($i=="image_id")c=i; if($i=="fold")k=i}; next}
  index(want, " " $k " "){print $c}' "$root/on/split-group/folds_group.csv" > "$here/runs/ids.txt"
.venv/bin/python bench/bench_paired.py "shipped=$root/on/split-group/predictions/unet/oof" \
  "noscale=$root/off/split-group/predictions/unet/oof" --ids "$here/runs/ids.txt" \
  --data /work/shared/dsb2018 --out "$here/runs/paired"
