while pgrep -f chain2.sh > /dev/null; do sleep 15; done
R=/work/main/bench/results
S=predict.adapt.steps=300
G="--split-by group"
/tmp/af/sw.sh g3b /tmp/ad/g3p2/split-group/runs/unet-fold3 /tmp/ad/g3p2 $R/grain_p_cpu_20261206/g3_p02/magnify.json:enl10o/x1 unet_adapt_s11 $G --set $S seed=11
/tmp/af/sw.sh g4b /tmp/ac/g4grain/split-group/runs/unet-fold4 /tmp/ac/g4grain $R/grain_cpu_20261206/g4_grain/magnify.json:enl10o/x1 unet_adapt_s11 $G --set $S seed=11
/tmp/af/sw.sh g2b /tmp/ad/g2p2/split-group/runs/unet-fold2 /tmp/ad/g2p2 $R/grain_p_cpu_20261206/g2_p02/magnify.json:enl10o/x1 unet_adapt_s11 $G --set $S seed=11
echo CHAIN3 DONE
