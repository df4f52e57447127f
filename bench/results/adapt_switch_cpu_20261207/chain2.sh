while pgrep -f chain.sh > /dev/null; do sleep 15; done
R=/work/main/bench/results
/tmp/af/arm.sh /tmp/ac/g4grain/split-group/runs/unet-fold4 /tmp/ac/ids_g4.txt g4_ctl $R/grain_cpu_20261206/g4_grain/magnify.json:enl10o/x1 --mix 0
/tmp/af/arm.sh /tmp/af/g0/split-group/runs/unet-fold0 /tmp/af/ids_g0.txt g0_ctl /tmp/af/pred_g0_base/magnify.json:enl10o/x1 --mix 0
echo CHAIN2 DONE
