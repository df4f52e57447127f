#!/bin/bash
# issue 14: the two families' group-OOF predictions (run_pair.sh) merged by the shipped ensemble
# with a few voting set-ups, then paired per image against the U-Net, and the per-type choice
# (python -m ensemble.by_type) measured on the equal-weight union.
# Usage: ensembles.sh DIR FOLDS OUT   (DIR as for run_pair.sh; FOLDS e.g. 3 or 1,3; OUT a new folder)
set -euo pipefail
dir=$1; folds=$2; out=$3
cd "$dir/src"
W="$dir/work/split-group"
mkdir -p "$dir/cfg"
base="$dir/src/ensemble/configs/demo.yaml"
# name | weights unet, maskrcnn | vote settings
while read -r name wu wm vote; do
  cat > "$dir/cfg/$name.yaml" <<YAML
_base_: $base
name: $name
output: $name
sources:
  - {solution: unet, weight: $wu}
  - {solution: maskrcnn-mobilenet, weight: $wm}
vote: $vote
YAML
  .venv/bin/python -m ensemble --config "$dir/cfg/$name.yaml" --work "$W" --data /work/shared/dsb2018 \
    --solutions unet,maskrcnn-mobilenet --folds "$folds" --splits oof --no-submission
done <<'LIST'
ens_demo 2.0 1.0 {min_votes: 1, min_fraction: 0.5}
ens_union 1.0 1.0 {min_votes: 1, min_fraction: 0.5}
ens_union_all 1.0 1.0 {min_votes: 1, min_fraction: 0.5, score_mode: all}
ens_inter 1.0 1.0 {min_votes: 2, min_fraction: 0.5}
LIST
P="$W/predictions"
.venv/bin/python bench/bench_paired.py unet=$P/unet/oof maskrcnn=$P/maskrcnn-mobilenet/oof \
  demo=$P/ens_demo/oof union=$P/ens_union/oof union_all=$P/ens_union_all/oof inter=$P/ens_inter/oof \
  --data /work/shared/dsb2018 --out "$out/paired"
.venv/bin/python -m ensemble.by_type --config "$dir/cfg/ens_union.yaml" --work "$W" --data /work/shared/dsb2018
cp "$W/reports/ensemble_by_type.md" "$W/reports/ensemble_by_type.json" "$out/"
