#!/usr/bin/env bash
# Writes pool.txt: ../adapt_switch_cpu_20261207/pool.py over this record's arms, then per network the gap
# between the two fine-tunings (the run's seed 42, seed=11) of each arm. Run from this folder.
cd "$(dirname "$0")" || exit 1
PY=../../../.venv/bin/python
{
echo "Command: ./pool.sh"
$PY ../adapt_switch_cpu_20261207/pool.py \
 "interpolate-1-seed-42:g3=cmp_g3a/paired.json,g4=cmp_g4a/paired.json" \
 "interpolate-1-seed-11:g3=cmp_g3b/paired.json,g4=cmp_g4b/paired.json" \
 "interpolate-0.5-seed-42:g3=cmp_g3h/paired.json,g4=cmp_g4h/paired.json" \
 "interpolate-0.5-seed-11:g3=cmp_g3hb/paired.json,g4=cmp_g4hb/paired.json" \
 "steps-100-seed-42:g3=cmp_g3f/paired.json,g4=cmp_g4f/paired.json" \
 "steps-100-seed-11:g3=cmp_g3fb/paired.json,g4=cmp_g4fb/paired.json"
echo "## per network and arm: the two fine-tunings' gains (seed 42, seed 11), their gap and their mean"
$PY - <<'PY'
import json
from pathlib import Path

import numpy as np

def gain(name):
    path = Path(f"cmp_{name}/paired.json")
    if not path.exists():
        return None
    return np.mean([v["new"] - v["old"] for v in json.loads(path.read_text())["per_image"].values()])

for arm, (a, b) in {"interpolate 1, 300 steps": ("a", "b"), "interpolate 0.5, 300 steps": ("h", "hb"),
                    "interpolate 1, 100 steps": ("f", "fb")}.items():
    for net in ("g3", "g4"):
        x, y = gain(net + a), gain(net + b)
        if x is None or y is None:
            print(f"- {arm}, {net}: not run")
            continue
        print(f"- {arm}, {net}: {x:+.4f} and {y:+.4f}; gap {abs(x - y):.4f}, mean {(x + y) / 2:+.4f}")
PY
} > pool.txt
cat pool.txt
