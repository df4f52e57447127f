# Fixed-parameter sweep of post.split_solidity / post.split_depth on the saved maps (no tuning):
# every image post-processed with the thresholds the folds chose (below) plus the switch.
cd /work/main
B="mask_threshold=0.6 seed_threshold=0.7 centre_threshold=0.65 min_area=30 min_seed_area=8"
for pair in "G /tmp/tt/pred /tmp/tt/folds_group.csv" "S /tmp/g70/work/predictions/unet/oof /tmp/g70/work/folds.csv"; do set -- $pair
  F=".venv/bin/python bench/bench_tune_transfer.py --pred-dir $2 --folds-csv $3 --config /tmp/g60/work/split-group/runs/unet-fold1/config.yaml --data /work/shared/dsb2018 --mode fixed"
  $F --out-pred /tmp/tt/sw_$1_base/split-group/predictions/unet/oof --set $B
  for v in "0.85 0.2" "0.9 0.2" "0.95 0.2" "1.0 0.2" "0.9 0.1" "0.9 0.3"; do set -- $1 $v
    $F --out-pred /tmp/tt/sw_$1_s$2_d$3/split-group/predictions/unet/oof --set $B split_solidity=$2 split_depth=$3
  done
  A=""; for v in base s0.85_d0.2 s0.9_d0.2 s0.95_d0.2 s1.0_d0.2 s0.9_d0.1 s0.9_d0.3; do A="$A $v=/tmp/tt/sw_$1_$v/split-group/predictions/unet/oof"; done
  .venv/bin/python bench/bench_paired.py $A --data /work/shared/dsb2018 --out bench/results/declump_cpu_20261204/sweep_$1
done
