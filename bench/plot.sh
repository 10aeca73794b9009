#!/usr/bin/env bash
# Draws the plots of BENCHMARKS.md (docs/bench/*.svg) from bench/results/*.jsonl, with
# matplotlib installed into a throwaway virtual environment (bench/.venv, not committed).
#
#   bench/plot.sh              # after bench/run.sh and bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet matplotlib
fi
"$venv/bin/python" bench/plot.py bench/results docs/bench
