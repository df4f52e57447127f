/tmp/st/arm.sh /tmp/ab/sdim/runs/unet-fold2 /tmp/ab/ids_strat2.txt s2_hard /work/main/bench/results/dim_nuclei_strat_cpu_20261206/s2/magnify.json:enl10o/x1
