set -x
cd /tmp/ac/snap
bench/fold_study.sh --split group --fold 3 --work /tmp/ac/g3grain --ids /tmp/ac/ids_g3.txt --out /tmp/ac/pred_g3grain -- data.grain=0.5
echo CHAIN3 DONE
