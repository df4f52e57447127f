#!/usr/bin/env bash
# arm.sh SRC IDS NAME BASE_MAGNIFY [selftrain args...]
set -euo pipefail
src=$1 ids=$2 name=$3 base=$4; shift 4
cd /tmp/af/snap2
V="enl10o:predict.scale_norm.floors_follow_scale=true,predict.scale_norm.enlarge_below=0.1,predict.scale_norm.enlarge_over_shrink=true"
.venv/bin/python /tmp/st/selftrain.py "$src" "$ids" /tmp/af/$name "$@" > /tmp/af/$name.log 2>&1
.venv/bin/python bench/bench_magnify.py --family unet --run /tmp/af/$name --data /work/shared/dsb2018 --ids "$ids" --factors 1 --variant "$V" --out /tmp/af/pred_$name > /tmp/af/pred_$name.log 2>&1
.venv/bin/python bench/bench_paired.py old=$base new=/tmp/af/pred_$name/magnify.json:enl10o/x1 --groups bench/results/dim_nuclei_cpu_20261206/folds_group.csv --data /work/shared/dsb2018 --out /tmp/af/cmp_$name > /dev/null 2>&1
echo "== $name $*"; grep "\[st\]" /tmp/af/$name.log; sed -n '/## all images/,$p' /tmp/af/cmp_$name/*.md | grep "^| " | grep -v "^| all images\|---\|image type |\|image size\|image kind"
