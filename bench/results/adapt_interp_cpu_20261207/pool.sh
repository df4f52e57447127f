#!/usr/bin/env bash
# Writes pool.txt: ../adapt_switch_cpu_20261207/pool.py over this record's arms, then (its "pairs" sets) per
# network the gap between the two fine-tunings (the run's seed 42, seed=11) of each arm. Run from this folder.
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
$PY ../adapt_switch_cpu_20261207/pool.py \
 "pairs interpolate 1, 300 steps (seed 42, seed 11):g3=cmp_g3a/paired.json+cmp_g3b/paired.json,g4=cmp_g4a/paired.json+cmp_g4b/paired.json" \
 "pairs interpolate 0.5, 300 steps (seed 42, seed 11):g3=cmp_g3h/paired.json+cmp_g3hb/paired.json,g4=cmp_g4h/paired.json+cmp_g4hb/paired.json" \
 "pairs interpolate 1, 100 steps (seed 42, seed 11):g3=cmp_g3f/paired.json+cmp_g3fb/paired.json,g4=cmp_g4f/paired.json+cmp_g4fb/paired.json"
} > pool.txt
cat pool.txt
