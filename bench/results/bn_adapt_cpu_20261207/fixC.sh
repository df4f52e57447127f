#!/usr/bin/env bash
# the chosen arms again with the fixed code (K1), after the g1 weight arms
while ! grep -q "ARMS g1 DONE" /tmp/ai/arms_g1b.out 2>/dev/null; do sleep 10; done
/tmp/ai/arms.sh 1 K1 > /tmp/ai/arms_g1k.out 2>&1
/tmp/ai/arms.sh 3 K1 > /tmp/ai/arms_g3k.out 2>&1
