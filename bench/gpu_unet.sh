#!/usr/bin/env bash
# 5-fold U-Net training and out-of-fold scoring on one GPU, under Keras' JAX backend.
#
# Meant for a lent GPU machine with JAX but no TensorFlow: the solutions' U-Net code
# uses keras.ops and keras.utils.PyDataset only, so it runs there unchanged.
#   bash bench/gpu_unet.sh PACKED_DATA.pkl OUT_DIR [BUDGET_S] [SOLUTION=CONFIG ...]
# (default: unet=solutions/unet/configs/gpu_time.yaml unet-baseline=.../baseline.yaml)
# PACKED_DATA.pkl comes from `python bench/dsb_pack.py pack ../shared/dsb2018 FILE`.
# All folds of all solutions train side by side (one process each), then each
# predicts its out-of-fold images (flip TTA) and the pooled OOF score is written to
# OUT_DIR/oof_score.txt with the per-fold train summaries.
set -euo pipefail
packed="$1"; out="$2"; budget="${3:-300}"
shift $(( $# < 3 ? $# : 3 ))
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(unet=solutions/unet/configs/gpu_time.yaml
                                 unet-baseline=solutions/unet/configs/baseline.yaml)
folds="${FOLDS:-0 1 2 3 4}"
# NO_TUNE=1: keep the config's post-processing (skip OOF threshold tuning).
# EXTRA_SET: more train --set overrides, e.g. "predict.tile_size=256 predict.pad_multiple=256"
# (one compiled input shape under JAX; predict reads the run's saved config, so set it here)
data=/tmp/dsb; work=/tmp/dsb-work
export KERAS_BACKEND="${KERAS_BACKEND:-jax}" PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
mkdir -p "$out"
py="${PYTHON:-python3}"
[ -d "$data/stage1_train" ] || "$py" bench/dsb_pack.py unpack "$packed" "$data"
"$py" - "$data" "$work" <<'PY'
import sys
from common.data import DSBDataset
from common.folds import get_folds
ds = DSBDataset(sys.argv[1], "stage1_train")
df = get_folds(ds, __import__("pathlib").Path(sys.argv[2]) / "folds.csv", n_folds=5, seed=42)
print(df.groupby(["fold", "cluster"]).size().unstack(fill_value=0))
PY
start=$(date +%s)
for pair in "${pairs[@]}"; do
  solution="${pair%%=*}"; config="${pair#*=}"
  for k in $folds; do
    "$py" -m solutions.unet.train --config "$config" --fold "$k" --data "$data" --work "$work" \
        --run-name "$solution-fold$k" --verbose 2 --set train.time_budget_s="$budget" train.tensorboard=false ${EXTRA_SET:-} \
        > "$out/train_$solution-fold$k.log" 2>&1 &
  done
done
wait
echo "training wall time: $(( $(date +%s) - start )) s"
for pair in "${pairs[@]}"; do
  solution="${pair%%=*}"
  for k in $folds; do
    "$py" -m solutions.unet.predict --run "$work/runs/$solution-fold$k" --split oof --data "$data" \
        --work "$work" --solution "$solution" ${NO_TUNE:+--no-tune} > "$out/predict_$solution-fold$k.log" 2>&1 &
  done
done
wait
echo "total wall time: $(( $(date +%s) - start )) s"
"$py" - "$data" "$work" "$out" "${pairs[@]%%=*}" <<'PY'
import json, sys
from pathlib import Path
from common.data import DSBDataset
from common.metrics import score_dataset
from common.predictions import list_predictions, load_prediction
data, work, out, *solutions = sys.argv[1:]
ds = DSBDataset(data, "stage1_train")
lines = []
for solution in solutions:
    files = list_predictions(Path(work) / "predictions" / solution / "oof")
    pred = {i: load_prediction(p).labels for i, p in files.items()}
    true = {i: ds.load_labels(i) for i in pred}
    report = score_dataset(true, pred)
    lines.append(f"OOF DSB score of {solution}: {report.score:.4f} over {len(pred)} of {len(ds.ids)} images")
    report.per_image.to_csv(Path(out) / f"oof_per_image_{solution}.csv")
    for run in sorted((Path(work) / "runs").glob(f"{solution}-fold*")):
        summary = run / "train_summary.json"
        if summary.exists():
            lines.append(f"{run.name}: {json.dumps(json.loads(summary.read_text()))}")
text = "\n".join(lines)
print(text)
(Path(out) / "oof_score.txt").write_text(text + "\n")
PY
