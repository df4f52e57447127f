#!/bin/bash
# issue 14: test-time scale normalisation (predict.scale_norm) on the histology group fold (1): the
# 30-minute cpu30 network of ../gap30_cpu_20261203 (group fold 1 rerun, /tmp/g42), first 40 held-out
# images, flip TTA; nice 19 beside another training
cd /work/main
echo "== start $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD)"
nice -n 19 .venv/bin/python bench/bench_normalise.py --work /tmp/g47/work --data /work/shared/dsb2018 --split-by group \
  --fold 1 --oof-limit 40 --variant cpu30: \
  --predict-variant "c30_sn:cpu30:predict.scale_norm.enabled=true" \
  --out /tmp/g47/out/fold1 2>&1 | grep -v "UserWarning\|truth = "
echo "== end $(date -u +%H:%M:%S)"
