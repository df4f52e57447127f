set -x
cd /tmp/ad/snap
bench/fold_study.sh --split group --fold 3 --work /tmp/ad/g3p2 --ids /tmp/ad/ids_g3.txt --out /tmp/ad/pred_g3p2 -- data.grain=0.2
bench/fold_study.sh --split group --fold 2 --work /tmp/ad/g2p2 --ids /tmp/ad/ids_g2.txt --out /tmp/ad/pred_g2p2 -- data.grain=0.2
echo CHAIN DONE
