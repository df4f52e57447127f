#!/bin/bash
# issue 15: the same 60 OOF images (cpu30 fold 0, 50-step weights) predicted by each engine and TTA
set -uo pipefail
cd /tmp/g17_src
for tta in none flip; do
 for eng in keras openvino; do
  echo "== $eng tta $tta $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf /tmp/infer-work/predictions/unet/oof
  .venv/bin/python -m solutions.unet.predict --run /tmp/infer-work/runs/unet-fold0 --split oof --work /tmp/infer-work --data /work/shared/dsb2018 --tta $tta --engine $eng --no-tune --limit 60 2>&1 | grep "^\[predict\] {\|OOF DSB\|engine"
  rm -rf /tmp/g17_acc/oof_${eng}_$tta; mv /tmp/infer-work/predictions/unet/oof /tmp/g17_acc/oof_${eng}_$tta
  echo "== done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
 done
done
