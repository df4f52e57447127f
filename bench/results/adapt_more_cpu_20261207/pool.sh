#!/usr/bin/env bash
# Writes pool.txt: ../adapt_switch_cpu_20261207/pool.py over this record's three networks, then (its "pairs"
# sets) every shipped-recipe network of the records adapted with two seeds (the run's 42, seed=11), all five
# group folds. Run from this folder.
cd "$(dirname "$0")" || exit 1
PY=../../../.venv/bin/python
POOL=../adapt_switch_cpu_20261207/pool.py
SWR=../adapt_switch_cpu_20261207 INT=../adapt_interp_cpu_20261207
G1=../selftrain_cpu_20261207/cmp_g1_product/paired.json@product
{
echo "Command: ./pool.sh"
$PY $POOL \
 "this-record-seed-42:g2=cmp_g2a/paired.json,g3=cmp_g3a/paired.json,g4=cmp_g4a/paired.json" \
 "this-record-seed-11:g2=cmp_g2b/paired.json,g3=cmp_g3b/paired.json,g4=cmp_g4b/paired.json"
$PY $POOL \
 "pairs shipped-recipe networks of the records, 300 steps (seed 42, seed 11):g0=$SWR/cmp_g0/paired.json+$SWR/cmp_g0b/paired.json,g1=$G1+$SWR/cmp_g1b/paired.json,g2=cmp_g2a/paired.json+cmp_g2b/paired.json,g3_ag=$INT/cmp_g3a/paired.json+$INT/cmp_g3b/paired.json,g3_ah=cmp_g3a/paired.json+cmp_g3b/paired.json,g4_ag=$INT/cmp_g4a/paired.json+$INT/cmp_g4b/paired.json,g4_ah=cmp_g4a/paired.json+cmp_g4b/paired.json"
} > pool.txt 2>&1
cat pool.txt
