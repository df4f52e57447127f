#!/bin/bash
# issue 14: the two families' group-OOF predictions (run_pair.sh) merged by the shipped ensemble
# with a few voting set-ups, then paired per image against the U-Net, and the per-type choice
# (python -m ensemble.by_type) measured against the demo-weighted vote and the intersection.
# Usage: ensembles.sh DIR FOLDS OUT [W]   (DIR as for run_pair.sh; FOLDS e.g. 3 or 1,3; OUT a new
# folder; W the group work folder, default DIR/work/split-group; the code is DIR/src2, a snapshot
# of a commit whose ensemble commands read group work folders, 24983bc)
set -euo pipefail
dir=$1; folds=$2; out=$3; W=${4:-$dir/work/split-group}
cd "$dir/src2"
cfg="$W/cfg"; mkdir -p "$cfg"
base="$dir/src2/ensemble/configs/demo.yaml"
# name | weights unet, maskrcnn | vote settings
while read -r name wu wm vote; do
  cat > "$cfg/$name.yaml" <<YAML
_base_: $base
name: $name
output: $name
sources:
  - {solution: unet, weight: $wu}
  - {solution: maskrcnn-mobilenet, weight: $wm}
vote: $vote
YAML
  .venv/bin/python -m ensemble --config "$cfg/$name.yaml" --work "$W" --data /work/shared/dsb2018 \
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
for name in ens_demo ens_inter; do
  .venv/bin/python -m ensemble.by_type --config "$cfg/$name.yaml" --work "$W" --data /work/shared/dsb2018
  cp "$W/reports/ensemble_by_type.md" "$out/by_type_$name.md"
  cp "$W/reports/ensemble_by_type.json" "$out/by_type_$name.json"
done
# the shipped choice (ensemble/configs/demo.yaml since 2026-12-04): the demo vote, brightfield left
# to the Mask R-CNN
cat > "$cfg/ens_demo_bytype.yaml" <<YAML
_base_: $cfg/ens_demo.yaml
name: ens_demo_bytype
output: ens_demo_bytype
by_type:
  brightfield: {unet: 0.0}
YAML
.venv/bin/python -m ensemble --config "$cfg/ens_demo_bytype.yaml" --work "$W" --data /work/shared/dsb2018 \
  --solutions unet,maskrcnn-mobilenet --folds "$folds" --splits oof --no-submission
.venv/bin/python bench/bench_paired.py unet=$P/unet/oof demo=$P/ens_demo/oof demo_bytype=$P/ens_demo_bytype/oof \
  --data /work/shared/dsb2018 --out "$out/paired_bytype"
