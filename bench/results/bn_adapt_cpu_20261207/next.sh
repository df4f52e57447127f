#!/usr/bin/env bash
# after g1: train g3 (background) and run the bn arms on g1
while ! grep -q "^g1 " /tmp/ai/train.done 2>/dev/null; do sleep 15; done
(nohup /tmp/ai/train.sh 3 > /tmp/ai/chain3.log 2>&1 &)
/tmp/ai/arms.sh 1 N1 C1 > /tmp/ai/arms_g1.out 2>&1
