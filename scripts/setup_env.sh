#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment, for the stack this machine needs.
# Sourced by run_all.sh and run_tests.sh; safe to run on its own.
#   scripts/select_stack.py picks the stack (cpu, gpu-tensorflow, gpu-jax, kaggle) from
#   nvidia-smi, DSB_DEVICE=auto|cpu|gpu, KERAS_BACKEND=tensorflow|jax and the Kaggle mount,
#   and says so in one line on stderr. The venv's stamp (.dsb-stack) records what was
#   installed: an unchanged selection installs nothing, another stack recreates the venv.
#   DSB_VENV=DIR: another venv (default .venv). DSB_SETUP_DRY_RUN=1: print the commands, run none.
set -euo pipefail
REPO_ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"
sel_python="${PYTHON:-python3}"
command -v "$sel_python" >/dev/null 2>&1 || sel_python=python3.11
sel_out="$("$sel_python" "$REPO_ROOT/scripts/select_stack.py" --shell)" || exit $?
eval "$sel_out"
VENV="$DSB_SEL_VENV"

if [ "${DSB_SETUP_DRY_RUN:-0}" = 1 ]; then
  venv_flags=""
  [ "$DSB_SEL_RECREATE" = 1 ] && venv_flags=" --clear"
  for f in ${DSB_SEL_VENV_FLAGS[@]+"${DSB_SEL_VENV_FLAGS[@]}"}; do venv_flags="$venv_flags $f"; done
  if [ "$DSB_SEL_INSTALL" = 1 ]; then
    [ -x "$VENV/bin/python" ] && [ "$DSB_SEL_RECREATE" = 0 ] || echo "would run: $DSB_SEL_PYTHON -m venv$venv_flags $VENV"
    if [ "${#DSB_SEL_PIP_ARGS[@]}" -gt 0 ]; then
      echo "would run: $VENV/bin/python -m pip install ${DSB_SEL_PIP_FLAGS[*]} ${DSB_SEL_PIP_ARGS[*]}"
    else
      echo "would run: no pip install (nothing missing)"
    fi
    echo "would write: $DSB_SEL_STAMP_FILE = $DSB_SEL_STAMP"
  else
    echo "would run: nothing (up to date)"
  fi
  exit 0
fi

if [ "$DSB_SEL_INSTALL" = 1 ]; then
  if [ "$DSB_SEL_RECREATE" = 1 ]; then
    "$DSB_SEL_PYTHON" -m venv --clear ${DSB_SEL_VENV_FLAGS[@]+"${DSB_SEL_VENV_FLAGS[@]}"} "$VENV"
  elif [ ! -x "$VENV/bin/python" ]; then
    "$DSB_SEL_PYTHON" -m venv ${DSB_SEL_VENV_FLAGS[@]+"${DSB_SEL_VENV_FLAGS[@]}"} "$VENV"
  fi
  echo "$DSB_STACK incomplete" > "$DSB_SEL_STAMP_FILE"  # an interrupted install is resumed
  if [ "${#DSB_SEL_PIP_ARGS[@]}" -gt 0 ]; then
    "$VENV/bin/python" -m pip install "${DSB_SEL_PIP_FLAGS[@]}" "${DSB_SEL_PIP_ARGS[@]}" >&2
  fi
  echo "$DSB_SEL_STAMP" > "$DSB_SEL_STAMP_FILE"
fi
unset sel_python sel_out venv_flags f
export DSB_STACK
export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}"
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
