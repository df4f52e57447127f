cd /work/main
B="mask_threshold=0.6 seed_threshold=0.7 centre_threshold=0.65 min_area=30 min_seed_area=8"
for pair in "G /tmp/tt/pred /tmp/tt/folds_group.csv" "S /tmp/g70/work/predictions/unet/oof /tmp/g70/work/folds.csv"; do set -- $pair
  F=".venv/bin/python bench/bench_tune_transfer.py --pred-dir $2 --folds-csv $3 --config /tmp/g60/work/split-group/runs/unet-fold1/config.yaml --data /work/shared/dsb2018 --mode fixed"
  $F --out-pred /tmp/tt/rc_$1/split-group/predictions/unet/oof --set $B split_solidity=0.9 split_depth=0.2
  .venv/bin/python bench/bench_paired.py base=/tmp/tt/sw_$1_base/split-group/predictions/unet/oof before=/tmp/tt/sw_$1_s0.9_d0.2/split-group/predictions/unet/oof after=/tmp/tt/rc_$1/split-group/predictions/unet/oof --data /work/shared/dsb2018 --out /tmp/tt/cmp/recheck_$1
done
