#!/usr/bin/env bash
# Writes pool.txt: pool.py over the sets of this record. Run from this folder.
cd "$(dirname "$0")"
P=../selftrain_cpu_20261207/cmp_g1_product/paired.json@product
{
echo "Command: ./pool.sh (pool.py over the sets below; g1 is ../selftrain_cpu_20261207/cmp_g1_product/paired.json@product)"
../../../.venv/bin/python pool.py \
 "group-run-seed-42:g0=cmp_g0/paired.json,g1=$P,g2=cmp_g2/paired.json,g3=cmp_g3/paired.json,g4=cmp_g4/paired.json" \
 "group-seed-11:g0b=cmp_g0b/paired.json,g1b=cmp_g1b/paired.json,g2b=cmp_g2b/paired.json,g3b=cmp_g3b/paired.json,g4b=cmp_g4b/paired.json" \
 "group-second-networks:g2s7=cmp_g2s7/paired.json,g3s7=cmp_g3s7/paired.json" \
 "stratified:s2=cmp_s2/paired.json,s3=cmp_s3/paired.json,s4=cmp_s4/paired.json" \
 "control-more-training:g0_ctl=cmp_g0_ctl/paired.json,g4_ctl=cmp_g4_ctl/paired.json" \
 "lr-1e-4-run-seed-42:g3lr42=cmp_g3lr42/paired.json,g4lr42=cmp_g4lr42/paired.json" \
 "lr-1e-4-seed-11:g3lr11=cmp_g3lr11/paired.json,g4lr11=cmp_g4lr11/paired.json"
../../../.venv/bin/python pool.py \
 "pairs group folds 0-4 (the run's seed, seed=11):g0=cmp_g0/paired.json+cmp_g0b/paired.json,g1=$P+cmp_g1b/paired.json,g2=cmp_g2/paired.json+cmp_g2b/paired.json,g3=cmp_g3/paired.json+cmp_g3b/paired.json,g4=cmp_g4/paired.json+cmp_g4b/paired.json"
} > pool.txt 2>&1
