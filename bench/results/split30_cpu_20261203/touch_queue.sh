#!/bin/bash
# touch channel at 30 min: group fold 1 (histology held out), then group fold 0
R=/work/main/bench/results/aug30_cpu_20261203/run_group.sh
bash $R /tmp/g80 1 'model.channels=[body,border,centre,touch]' 'loss.channel_weights=[1.0,1.0,0.5,1.0]'
bash $R /tmp/g80 0 'model.channels=[body,border,centre,touch]' 'loss.channel_weights=[1.0,1.0,0.5,1.0]'
