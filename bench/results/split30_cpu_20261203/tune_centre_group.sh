set -x
cd /work/main
P=".venv/bin/python bench/bench_tune_transfer.py --pred-dir /tmp/tt/pred --folds-csv /tmp/tt/folds_group.csv --config /tmp/g60/work/split-group/runs/unet-fold1/config.yaml --data /work/shared/dsb2018 --mode cross"
$P --out-pred /tmp/tt/xtune/split-group/predictions/unet/oof
$P --out-pred /tmp/tt/xtune_c/split-group/predictions/unet/oof --grid centre_threshold=0.0,0.2,0.35,0.5,0.65
