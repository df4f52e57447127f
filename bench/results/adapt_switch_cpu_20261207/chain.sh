while pgrep -f fold_study.sh > /dev/null; do sleep 15; done
R=/work/main/bench/results
S=predict.adapt.steps=300
G="--split-by group"
/tmp/af/sw.sh g0 /tmp/af/g0/split-group/runs/unet-fold0 /tmp/af/g0 /tmp/af/pred_g0_base/magnify.json:enl10o/x1 unet_adapt $G --set $S
/tmp/af/sw.sh g2 /tmp/ad/g2p2/split-group/runs/unet-fold2 /tmp/ad/g2p2 $R/grain_p_cpu_20261206/g2_p02/magnify.json:enl10o/x1 unet_adapt $G --set $S
/tmp/af/sw.sh g3 /tmp/ad/g3p2/split-group/runs/unet-fold3 /tmp/ad/g3p2 $R/grain_p_cpu_20261206/g3_p02/magnify.json:enl10o/x1 unet_adapt $G --set $S
/tmp/af/sw.sh g4 /tmp/ac/g4grain/split-group/runs/unet-fold4 /tmp/ac/g4grain $R/grain_cpu_20261206/g4_grain/magnify.json:enl10o/x1 unet_adapt $G --set $S
/tmp/af/sw.sh g2s7 /tmp/ad/g2s7/split-group/runs/unet-fold2 /tmp/ad/g2s7 $R/grain_p_cpu_20261206/g2_seed7/magnify.json:enl10o/x1 unet_adapt $G --set $S
/tmp/af/sw.sh g3s7 /tmp/ad/g3s7b/split-group/runs/unet-fold3 /tmp/ad/g3s7b $R/grain_p_cpu_20261206/g3_seed7/magnify.json:enl10o/x1 unet_adapt $G --set $S
for f in 2 3 4; do
/tmp/af/sw.sh s$f /tmp/ab/sdim/runs/unet-fold$f /tmp/ab/sdim $R/dim_nuclei_strat_cpu_20261206/s$f/magnify.json:enl10o/x1 unet_adapt --set $S
done
/tmp/af/sw.sh g0b /tmp/af/g0/split-group/runs/unet-fold0 /tmp/af/g0 /tmp/af/pred_g0_base/magnify.json:enl10o/x1 unet_adapt_s11 $G --set $S seed=11
/tmp/af/sw.sh g1b /tmp/st/g1/split-group/runs/unet-fold1 /tmp/st/g1 /tmp/st/pred_g1_base/magnify.json:enl10o/x1 unet_adapt_s11 $G --set $S seed=11
echo CHAIN DONE
