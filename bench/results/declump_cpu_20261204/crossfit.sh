cd /work/main
G=".venv/bin/python bench/bench_tune_transfer.py --pred-dir /tmp/tt/pred --folds-csv /tmp/tt/folds_group.csv --config /tmp/g60/work/split-group/runs/unet-fold1/config.yaml --data /work/shared/dsb2018 --mode cross"
S=".venv/bin/python bench/bench_tune_transfer.py --pred-dir /tmp/g70/work/predictions/unet/oof --folds-csv /tmp/g70/work/folds.csv --config /tmp/g60/work/split-group/runs/unet-fold1/config.yaml --data /work/shared/dsb2018 --mode cross"
$G --out-pred /tmp/tt/xtune_split02/split-group/predictions/unet/oof --grid split_solidity=0,0.85,0.9 > /tmp/tt/run_split02_g.log 2>&1 &
$S --out-pred /tmp/tt/s_xtune_split02/split-group/predictions/unet/oof --grid split_solidity=0,0.85,0.9 > /tmp/tt/run_split02_s.log 2>&1
wait
