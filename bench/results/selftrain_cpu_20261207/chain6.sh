while pgrep -f chain5.sh > /dev/null; do sleep 10; done
cd /tmp/st/snap && bench/fold_study.sh --split group --fold 1 --work /tmp/st/g1 --ids /tmp/st/ids_g1.txt --out /tmp/st/pred_g1_base > /tmp/st/g1_train.log 2>&1
/tmp/st/arm.sh /tmp/st/g1/split-group/runs/unet-fold1 /tmp/st/ids_g1.txt g1_hh /tmp/st/pred_g1_base/magnify.json:enl10o/x1 --hybrid 1.5
