#!/bin/bash
# issue 15: HEAD (OpenVINO engine, one dynamic network) against 8c2f42d (TensorFlow graph), side by side
cd /tmp/g19_src
rm -rf /tmp/g19_out
.venv/bin/python bench/bench_inference.py --configs unet-cpu30 unet-baseline --tta none flip --sizes 256x256 520x696 1024x1024 1040x1388 mix --n 4 --n-mix 24 --unet-run /tmp/infer-work/runs/unet-fold0 --base /tmp/infer-base2 --base-sizes 256x256 mix --out /tmp/g19_out/a
.venv/bin/python bench/bench_inference.py --configs unet-cpu30 --tta hflip --sizes 256x256 520x696 mix --n 4 --n-mix 24 --unet-run /tmp/infer-work/runs/unet-fold0 --out /tmp/g19_out/c
.venv/bin/python bench/bench_engine.py --run /tmp/infer-work/runs/unet-fold0 --busy 0 --out /tmp/g19_out/engine_quiet
.venv/bin/python bench/bench_engine.py --run /tmp/infer-work/runs/unet-fold0 --busy 1 --out /tmp/g19_out/engine_busy
