#!/usr/bin/env bash
# Installs what load_tests/bench.py needs beyond the Python extras: wrk (apt-get) if it is missing.
# Usage: load_tests/setup.sh   (root, or sudo available)
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
    echo "wrk already installed: $(command -v wrk)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q wrk
command -v wrk
