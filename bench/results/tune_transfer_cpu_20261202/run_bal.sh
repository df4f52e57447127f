#!/bin/bash
# issue 14: thresholds tuned on the other group folds (cross) with a relative minimum area
# (post.min_area_rel) in the grid, on the 200-step data.balance=0.5 networks' 200 group-OOF maps
cd /work/main
B=/tmp/g21/group/bal/split-group
tt() {
  echo "== $1 start $(date -u +%H:%M:%S)"
  nice -n 19 .venv/bin/python bench/bench_tune_transfer.py --pred-dir $B/predictions/unet/oof \
    --folds-csv $B/folds_group.csv --config $B/runs/unet-fold0/config.yaml --data /work/shared/dsb2018 \
    --mode cross --out-pred /tmp/g32/$1/split-group/predictions/unet/oof --grid "${@:2}" 2>&1 | grep -v "Warning\|truth ="
  echo "== $1 end $(date -u +%H:%M:%S)"
}
tt bal_xrel min_area_rel=0.0,0.1,0.2,0.3,0.4
tt bal_xrelonly min_area=5 min_area_rel=0.0,0.1,0.2,0.3,0.4
