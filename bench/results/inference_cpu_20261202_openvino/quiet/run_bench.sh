#!/bin/bash
# issue 15, quiet re-run: cpu30 none/hflip/flip at 256x256 and the mix, base 8c2f42d beside it (no hflip there)
set -u
rm -rf /tmp/g20_src /tmp/g20_out && mkdir -p /tmp/g20_src && cd /work/main && git archive HEAD | tar -x -C /tmp/g20_src && ln -s /work/main/.venv /tmp/g20_src/.venv
cd /tmp/g20_src
.venv/bin/python bench/bench_inference.py --configs unet-cpu30 --tta none flip --sizes 256x256 mix --n 4 --n-mix 24 --unet-run /tmp/infer-work/runs/unet-fold0 --base /tmp/infer-base2 --base-sizes 256x256 mix --out /tmp/g20_out/a
.venv/bin/python bench/bench_inference.py --configs unet-cpu30 --tta hflip --sizes 256x256 mix --n 4 --n-mix 24 --unet-run /tmp/infer-work/runs/unet-fold0 --out /tmp/g20_out/c
.venv/bin/python bench/bench_inference.py merge /tmp/g20_out/a /tmp/g20_out/c /tmp/g20_out/ac
