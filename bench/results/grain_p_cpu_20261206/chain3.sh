set -x
cd /tmp/ad/snap
bench/fold_study.sh --split group --fold 2 --work /tmp/ad/g2s7 --ids /tmp/ad/ids_g2.txt --out /tmp/ad/pred_g2s7 -- data.grain=0.5 seed=7
echo CHAIN3 DONE
