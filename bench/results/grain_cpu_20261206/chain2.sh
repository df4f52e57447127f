set -x
while ! grep -q "^CHAIN DONE" /tmp/ac/chain.log; do sleep 20; done
cd /tmp/ac/snap
bench/fold_study.sh --split group --fold 4 --work /tmp/ac/g4grain --ids /tmp/ac/ids_g4.txt --out /tmp/ac/pred_g4grain -- data.grain=0.5
S="predict.scale_norm"; V="enl10o:$S.floors_follow_scale=true,$S.enlarge_below=0.1,$S.enlarge_over_shrink=true"
.venv/bin/python bench/bench_magnify.py --family unet --run /tmp/z1/work/split-group/runs/unet-fold4 --data /work/shared/dsb2018 --ids /tmp/ac/ids_g4.txt --factors 1 --variant "$V" --out /tmp/ac/pred_g4ref
echo CHAIN2 DONE
