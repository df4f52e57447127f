#!/bin/bash
# issue 14: tuned thresholds' transfer on the 30-minute group-fold U-Nets (folds 3 1 4 0, 160 images,
# flip TTA maps): the grid before min_area_rel (held at 0) and the grid with it (solutions/unet/tune.py)
cd /work/main
W=/tmp/g30/work/split-group
tt() {
  echo "== $1 start $(date -u +%H:%M:%S)"
  .venv/bin/python bench/bench_tune_transfer.py --pred-dir $W/predictions/unet/oof --folds-csv $W/folds_group.csv \
    --config $W/runs/unet-fold3/config.yaml --data /work/shared/dsb2018 --mode cross \
    --out-pred /tmp/g31/$1/split-group/predictions/unet/oof "${@:2}" 2>&1 | grep -v "Warning\|truth =\|preds ="
  echo "== $1 end $(date -u +%H:%M:%S)"
}
tt c30_xtune --grid min_area_rel=0.0 &
tt c30_xrel &
wait
