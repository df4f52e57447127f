while pgrep -f chain6.sh > /dev/null; do sleep 10; done
cd /work/main
.venv/bin/python -m solutions.unet.predict --run /tmp/st/g1/split-group/runs/unet-fold1 --split oof --split-by group --data /work/shared/dsb2018 --work /tmp/st/g1 --solution unet_adapt --set predict.adapt.steps=300 > /tmp/st/g1_product.log 2>&1
.venv/bin/python bench/bench_paired.py old=/tmp/st/pred_g1_base/magnify.json:enl10o/x1 probe=/tmp/st/pred_g1_hh/magnify.json:enl10o/x1 product=/tmp/st/g1/split-group/predictions/unet_adapt/oof --groups bench/results/dim_nuclei_cpu_20261206/folds_group.csv --data /work/shared/dsb2018 --out /tmp/st/cmp_g1_product > /dev/null 2>&1
grep "^| " /tmp/st/cmp_g1_product/paired.md | head -12
