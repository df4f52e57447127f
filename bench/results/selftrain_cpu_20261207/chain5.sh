while pgrep -f chain4.sh > /dev/null; do sleep 10; done
R=/work/main/bench/results
/tmp/st/arm.sh /tmp/ab/sdim/runs/unet-fold2 /tmp/ab/ids_strat2.txt s2_hh $R/dim_nuclei_strat_cpu_20261206/s2/magnify.json:enl10o/x1 --hybrid 1.5
/tmp/st/arm.sh /tmp/ac/g4grain/split-group/runs/unet-fold4 /tmp/ac/ids_g4.txt g4_hh $R/grain_cpu_20261206/g4_grain/magnify.json:enl10o/x1 --hybrid 1.5
/tmp/st/arm.sh /tmp/ad/g3s7b/split-group/runs/unet-fold3 /tmp/ad/ids_g3.txt g3s7_hh $R/grain_p_cpu_20261206/g3_seed7/magnify.json:enl10o/x1 --hybrid 1.5
/tmp/st/arm.sh /tmp/ad/g2s7/split-group/runs/unet-fold2 /tmp/ad/ids_g2.txt g2s7_hh $R/grain_p_cpu_20261206/g2_seed7/magnify.json:enl10o/x1 --hybrid 1.5
/tmp/st/arm.sh /tmp/ab/sdim/runs/unet-fold3 /tmp/ab/ids_strat3.txt s3_hh $R/dim_nuclei_strat_cpu_20261206/s3/magnify.json:enl10o/x1 --hybrid 1.5
