set -x
cd /tmp/ad/snap
bench/fold_study.sh --split group --fold 3 --work /tmp/ad/g3s7b --ids /tmp/ad/ids_g3.txt --out /tmp/ad/pred_g3s7 -- data.grain=0.5 seed=7
cd /work/main
R=bench/results/grain_p_cpu_20261206; G=bench/results/grain_cpu_20261206; E=bench/results/enlarge_small_cpu_20261205/override; K=enl10o/x1
mkdir -p $R/g3_seed7 && cp /tmp/ad/pred_g3s7/magnify.* $R/g3_seed7/ && cp /tmp/ad/g3s7b/split-group/runs/unet-fold3/train_summary.json $R/g3_seed7/
.venv/bin/python bench/bench_paired.py old=$E/fold3/magnify.json:$K ref=$G/g3_ref/magnify.json:$K g05=$G/g3_grain/magnify.json:$K g05_seed7=$R/g3_seed7/magnify.json:$K g02=$R/g3_p02/magnify.json:$K --groups bench/results/dim_nuclei_cpu_20261206/folds_group.csv --data /work/shared/dsb2018 --out $R/g3_paired_seed7
.venv/bin/python $R/counts.py brightfield-1024x1024 g05_seed7=$R/g3_seed7/magnify.json:$K > /tmp/ad/g3s7_counts.md
echo CHAIN5 DONE
