set -x
cd /tmp/ac/snap
bench/fold_study.sh --split group --fold 2 --work /tmp/ac/g2grain --ids /tmp/ac/ids_g2.txt --out /tmp/ac/pred_g2grain -- data.grain=0.5
S="predict.scale_norm"; V="enl10o:$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
.venv/bin/python bench/bench_magnify.py --family unet --run /tmp/z1/work/split-group/runs/unet-fold2 --data /work/shared/dsb2018 --ids /tmp/ac/ids_g2.txt --factors 1 --variant "$V" --out /tmp/ac/pred_g2ref
bench/fold_study.sh --split stratified --fold 1 --work /tmp/ac/s1grain --ids /tmp/ac/ids_s1.txt --out /tmp/ac/pred_s1grain -- data.grain=0.5
.venv/bin/python bench/bench_magnify.py --family unet --run /tmp/s1/swork/runs/unet-fold1 --data /work/shared/dsb2018 --ids /tmp/ac/ids_s1.txt --factors 1 --variant "$V" --out /tmp/ac/pred_s1ref
echo CHAIN DONE
