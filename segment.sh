#!/usr/bin/env bash
# Segment your own images with a trained run or a .dsbmodel file (sets up .venv on first use):
# ./segment.sh --model RUN_DIR_or_FILE IMAGES... --out DIR [--tta flip] [--tile 2048] [--format tif,csv,overlay,roi,geojson]
# ./segment.sh export --run RUN_DIR --out model.dsbmodel
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$REPO"
source scripts/setup_env.sh
cd - >/dev/null
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
exec python -m segment "$@"
