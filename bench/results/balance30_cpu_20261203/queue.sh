#!/bin/bash
# issue 14, 2026-12-03 d: one training at a time on the 2-core CPU.
# g60 group fold 1 shipped cpu30 (today's fit + shrink-only scale_norm) -- same-code baseline
# g61 group fold 1 with data.balance=0.5
# g62 group fold 0, g63 group fold 2 shipped cpu30 (group OOF at today's speed)
RG=/tmp/g60/src/bench/results/aug30_cpu_20261203/run_group.sh
bash $RG /tmp/g60 1
bash $RG /tmp/g61 1 data.balance=0.5
bash $RG /tmp/g62 0
bash $RG /tmp/g63 2
echo "== queue done $(date -u +%H:%M:%S)"
