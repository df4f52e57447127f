#!/usr/bin/env bash
# sw.sh NAME RUN WORK BASE_MAGNIFY SOLUTION [predict args...]: the built switch (predict.adapt) through
# the predict command on one trained network's held-out share, paired per image with the network's
# stored prediction before adapting (used later for other --set switches too: predict.bn_adapt). SW_SNAP: the
# repository snapshot it runs in (default /tmp/af/snap2, as it ran for this record); SW_LOGS: where the predict's log
# and the paired tables go (default /tmp/af). A failed comparison (e.g. the predict refused by a run lock) says so
# (2026-12-07, session ai; before, bench_paired.py's errors went to /dev/null).
set -uo pipefail
name=$1 run=$2 work=$3 base=$4 sol=$5; shift 5
logs=${SW_LOGS:-/tmp/af}
cd "${SW_SNAP:-/tmp/af/snap2}" || exit 1
t0=$(date +%s)
.venv/bin/python -m solutions.unet.predict --run "$run" --split oof --data /work/shared/dsb2018 --work "$work" \
  --solution "$sol" "$@" > "$logs/$name.log" 2>&1
echo "== $name rc=$? $(( $(date +%s) - t0 )) s: $*"
pred=$(grep -o "/[^ ]*predictions/$sol/oof[^ ]*" "$logs/$name.log" | head -1)
[ -z "$pred" ] && pred=$(find "$work" -type d -path "*predictions/$sol/oof" | head -1)
.venv/bin/python bench/bench_paired.py old=$base new=$pred --groups bench/results/dim_nuclei_cpu_20261206/folds_group.csv \
  --data /work/shared/dsb2018 --out "$logs/cmp_$name" > /dev/null || echo "== $name: no comparison (bench_paired failed; see $logs/$name.log)"
grep "\[adapt\]\|OOF DSB" "$logs/$name.log"
sed -n '/## all images/,$p' "$logs/cmp_$name"/*.md | grep "^| " | grep -v "^| all images\|---\|image type |\|image size\|image kind"
