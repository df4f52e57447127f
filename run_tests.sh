#!/usr/bin/env bash
# The project's one test command: ./run_tests.sh [pytest args]
# Sets up .venv on first use, then runs pytest. Slow tests run too unless you pass -m "not slow".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export DSB_WITH_JAX=1  # the suite runs both Keras backends: the cpu stack installs JAX too
source scripts/setup_env.sh
exec python -m pytest "$@"
