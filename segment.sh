#!/usr/bin/env bash
# Segment your own images with a trained run or a .dsbmodel file (sets up .venv on first use):
#   ./segment.sh --model RUN_DIR_or_FILE IMAGES... --out DIR [--tta flip] [--tile 2048] [--format tif,csv,overlay,roi,geojson]
#   ./segment.sh export --run RUN_DIR --out model.dsbmodel
# Paths are taken relative to the current folder (the script does not change it).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$REPO/scripts/setup_env.sh"
exec python -m segment "$@"
