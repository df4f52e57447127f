#!/bin/bash
cd /work/main; rm -rf /tmp/prof/work3
.venv/bin/python -m solutions.unet.train --config solutions/unet/configs/cpu30.yaml --fold 0 --data /work/shared/dsb2018 --work /tmp/prof/work3 --run-name p2 --verbose 2 --set train.time_budget_s=420 post.tune=false > /tmp/prof/stall_train.log 2>&1 &
PID=$!
sleep 40
n=0; prev=$(awk '{print $14+$15}' /proc/$PID/stat)
while kill -0 $PID 2>/dev/null; do
  sleep 3; cur=$(awk '{print $14+$15}' /proc/$PID/stat 2>/dev/null) || break
  d=$((cur-prev)); prev=$cur
  if [ $d -lt 20 ]; then n=$((n+1)); echo "$(date +%T) low cpu ticks $d"; if [ $n -eq 2 ] || [ $n -eq 6 ]; then /tmp/pyspy/bin/py-spy dump --native --pid $PID > /tmp/prof/stall_dump_$n.txt 2>&1; echo dumped; cat /proc/$PID/status | grep -i threads; ls /proc/$PID/task | wc -l; fi; else n=0; fi
done
