#!/usr/bin/env bash
# The peers' own environment for benchmarks/paper_repro.py (never the project's .venv, never committed).
# torch==2.13.0 goes first: pip then takes the CPU build already on this machine's disk, and the peer
# packages (which only ask for "torch>=...") do not pull a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/.venv-peers}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet torch==2.13.0
"$VENV/bin/python" -m pip install --quiet torchfm==0.7.0 deepctr-torch==0.3.0 numpy
"$VENV/bin/python" -c "import torch, torchfm, deepctr_torch; print('peers venv ready:', torch.__version__, deepctr_torch.__version__)"
