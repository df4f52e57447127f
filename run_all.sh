#!/usr/bin/env bash
# The whole study in one command: data -> folds -> train -> predict -> ensemble -> submission -> report.
# ./run_all.sh [--profile demo|full] [--solutions unet,maskrcnn-mobilenet] [--folds 0,1] ...
# (./run_all.sh --help lists every option). Sets up .venv on first use.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/setup_env.sh
exec python -m pipeline.run_all "$@"
