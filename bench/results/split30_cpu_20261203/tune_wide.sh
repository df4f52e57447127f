cd /work/main
G="--grid mask_threshold=0.3,0.4,0.5,0.6,0.7,0.8 seed_threshold=0.3,0.4,0.5,0.6,0.7,0.8,0.9 centre_threshold=0.0,0.2,0.35,0.5,0.65,0.8"
P="nice -n 19 .venv/bin/python bench/bench_tune_transfer.py --config /tmp/g60/work/split-group/runs/unet-fold1/config.yaml --data /work/shared/dsb2018 --mode cross"
$P --pred-dir /tmp/tt/pred --folds-csv /tmp/tt/folds_group.csv --out-pred /tmp/tt/xtune_w2/split-group/predictions/unet/oof $G
$P --pred-dir /tmp/g70/work/predictions/unet/oof --folds-csv /tmp/g70/work/folds.csv --out-pred /tmp/tt/s_xtune_w2/split-group/predictions/unet/oof $G
