#!/usr/bin/env bash
while ! grep -q "^g3 " /tmp/ai/train.done 2>/dev/null; do sleep 15; done
(nohup /tmp/ai/train.sh 2 > /tmp/ai/chain2.log 2>&1 &)
/tmp/ai/arms.sh 3 N1 C1 > /tmp/ai/arms_g3.out 2>&1
while ! grep -q "^g2 " /tmp/ai/train.done 2>/dev/null; do sleep 15; done
/tmp/ai/arms.sh 2 N1 C1 > /tmp/ai/arms_g2.out 2>&1
