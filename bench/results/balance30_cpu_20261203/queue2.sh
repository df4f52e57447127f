#!/bin/bash
# issue 14, 2026-12-03 d: queue.sh reordered after g60 had started (queue.sh's bash stopped,
# g60 left running): the group folds first, so the instance filter can be cross-fitted on
# three 30-minute group folds beside the last training; balance last.
# g62 group fold 0, g63 group fold 2 (shipped cpu30), then g61 group fold 1 with data.balance=0.5
while pgrep -f "run_group.sh /tmp/g60 1" > /dev/null; do sleep 20; done
RG=/tmp/g60/src/bench/results/aug30_cpu_20261203/run_group.sh
bash $RG /tmp/g62 0
bash $RG /tmp/g63 2
bash $RG /tmp/g61 1 data.balance=0.5
echo "== queue2 done $(date -u +%H:%M:%S)"
