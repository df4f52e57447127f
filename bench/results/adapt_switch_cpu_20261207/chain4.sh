R=/work/main/bench/results
G="--split-by group"
for sd in 42 11; do
/tmp/af/sw3.sh g3lr$sd /tmp/ad/g3p2/split-group/runs/unet-fold3 /tmp/ad/g3p2 $R/grain_p_cpu_20261206/g3_p02/magnify.json:enl10o/x1 unet_adapt_lr1e4_s$sd $G --set predict.adapt.steps=300 predict.adapt.lr=0.0001 seed=$sd
/tmp/af/sw3.sh g4lr$sd /tmp/ac/g4grain/split-group/runs/unet-fold4 /tmp/ac/g4grain $R/grain_cpu_20261206/g4_grain/magnify.json:enl10o/x1 unet_adapt_lr1e4_s$sd $G --set predict.adapt.steps=300 predict.adapt.lr=0.0001 seed=$sd
done
echo CHAIN4 DONE
