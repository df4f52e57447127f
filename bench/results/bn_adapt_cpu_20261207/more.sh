#!/usr/bin/env bash
while ! grep -q "ARMS g3 DONE" /tmp/ai/arms_g3.out 2>/dev/null; do sleep 10; done
/tmp/ai/arms.sh 3 N2 N5 > /tmp/ai/arms_g3b.out 2>&1
/tmp/ai/arms.sh 1 N2 N5 > /tmp/ai/arms_g1b.out 2>&1
